import sys

from sofs.cli.main import main

sys.exit(main())
