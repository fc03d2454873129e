# The lines .ci/run needs around `make test` (it has `set -euo pipefail` and cds to the repo
# root first): the local one-node cluster is up before the tests and stopped after them, also
# when they fail (the EXIT trap runs on any exit under set -e). The `slurm` tests then find it;
# under CI=true, a slurm test that skipped for want of a cluster fails the run.
tests/slurm/local_cluster.sh start
trap 'tests/slurm/local_cluster.sh stop' EXIT
