import sys

from tests.bench.harness import main

sys.exit(main())
