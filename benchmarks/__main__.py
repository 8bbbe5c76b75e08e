"""``python -m benchmarks`` runs the proposal-speed benchmark."""

from benchmarks.propose_speed import main

main()
