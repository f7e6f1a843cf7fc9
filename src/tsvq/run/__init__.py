"""The run record: checkpoint reading and writing, the run folder and its lock, TOTEM's names."""
