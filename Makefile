# The two set-up commands:  make serve   and   make test
VENV := .venv
PY := $(VENV)/bin/python

.PHONY: serve test install models bench

$(VENV)/.installed: pyproject.toml packaging/dev/install.sh
	bash packaging/dev/install.sh
	touch $@

install: $(VENV)/.installed

models: install
	bash packaging/dev/fetch-models.sh

serve: models
	$(VENV)/bin/airlock serve

test: models
	AIRLOCK_REQUIRE_KERNELS=1 $(VENV)/bin/python -m pytest

bench: models
	$(VENV)/bin/airlock bench
