# make setup: build .venv with the pinned requirements (once; reruns when requirements change)
# make demo:  Part 3 on the bundled images at the default settings
# make test:  the whole test suite
VENV := .venv
PY := $(VENV)/bin/python

.PHONY: setup demo test report bench clean

setup: $(VENV)/.installed

$(VENV)/.installed: requirements.txt
	test -x $(PY) || python3 -m venv $(VENV)
	$(PY) -m pip install --quiet --disable-pip-version-check -r requirements.txt
	touch $@

demo: setup
	$(PY) run.py --part 3

test: setup
	$(PY) -m pytest -q

report: setup
	$(PY) run.py --report

clean:
	rm -rf results/tmp .pytest_cache
