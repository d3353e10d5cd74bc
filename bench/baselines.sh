#!/bin/sh
# Install the reference TAXII 2.1 servers that bench/taxii_bench.py compares Balai with, each in
# its own virtual environment under bench/.venvs (from the package registry, pinned).
set -eu
cd "$(dirname "$0")"
[ -x .venvs/medallion/bin/python ] || python3 -m venv .venvs/medallion
.venvs/medallion/bin/pip install --quiet "medallion==3.0.0"
[ -x .venvs/opentaxii/bin/python ] || python3 -m venv .venvs/opentaxii
.venvs/opentaxii/bin/pip install --quiet "opentaxii==0.9.3" "psycopg2-binary>=2.9"
echo "medallion and OpenTAXII installed under bench/.venvs"
