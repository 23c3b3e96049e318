"""``python -m dev.moto_server``: the local run's AWS backend (the code is in dev/local_aws/).

    python -m dev.moto_server -H 127.0.0.1 -p 5000 [--state .local-state/moto-aws.pickle]
"""

from dev.local_aws.server import main

if __name__ == "__main__":
    main()
