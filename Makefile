# The two commands (see README.md). Both set up .venv first; set-up is idempotent.
.PHONY: demo test

demo:
	bash scripts/bootstrap.sh
	.venv/bin/kimi-cookbook demo

test:
	bash scripts/bootstrap.sh --test
	bash scripts/test.sh
