"""What the tests (and the benchmarks) use besides fixtures: local server launchers."""
