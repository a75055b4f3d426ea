.PHONY: demo test lint bench install mutate

install:
	scripts/bootstrap.sh

demo: install
	.venv/bin/qbizfed local up

test:
	scripts/test.sh

bench: install
	.venv/bin/python -m bench.run_all

lint: install
	.venv/bin/ruff check src tests bench && .venv/bin/mypy

# Mutation testing (slow, not part of `make test`): killed/total per area, see README.
# `make mutate AREAS="identity web"` runs only those areas (identity, web, sts).
mutate: install
	scripts/mutate.sh $(AREAS)
