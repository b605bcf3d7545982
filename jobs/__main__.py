"""``python -m jobs ...`` and spark-submit's entry point: the same CLI as ``detak``."""

from jobs.cli import main

if __name__ == "__main__":
    raise SystemExit(main())
