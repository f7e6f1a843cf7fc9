import sys

from tsvq.cli import main

sys.exit(main())
