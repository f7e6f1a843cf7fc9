"""Where and how a process computes: device and precision, distributed runs, CPU threads,
progress bars and signals."""
