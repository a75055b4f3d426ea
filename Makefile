.PHONY: demo test lint bench install

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
