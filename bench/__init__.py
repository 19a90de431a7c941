"""The portal's benchmarks (`make bench`; see bench/__main__.py). Not part of `make test`."""
