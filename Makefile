.PHONY: demo test lint bench install

install:
	scripts/bootstrap.sh

demo: install
	.venv/bin/qbizfed local up

test:
	scripts/test.sh

lint: install
	.venv/bin/ruff check src tests bench && .venv/bin/mypy
