# evalctl — `make demo`, `make test` (the quick suite) and `make test-heavy` (browser, S3 server,
# Spark, race campaigns); CI (.ci/run) runs both test commands.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: demo test test-heavy test-races test-s3 test-browser test-spark screenshots lint typecheck bench sample clean

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[test]'
	touch $(STAMP)

sample: $(STAMP)
	$(BIN)/python sample_data/generate.py --out sample_data/generated

demo: $(STAMP)
	bash sample_data/demo.sh

test: $(STAMP)
	$(BIN)/ruff check src tests benchmarks sample_data
	$(BIN)/mypy src
	$(BIN)/python -m pytest -n auto --dist loadfile -m "not slow and not browser and not spark and not s3 and not races"

# the second test command: every suite that needs a real outside part or long real races
test-heavy: test-races test-s3 test-browser test-spark

test-races: $(STAMP)
	$(BIN)/python -m pytest -m races tests/test_races.py

# object storage: a moto S3 server on loopback (tests/s3_server.py); one line if it cannot start
test-s3: $(STAMP)
	$(BIN)/python -m tests.s3_server --check
	$(BIN)/python -m pytest -m "s3 and not spark"

test-browser: $(STAMP)
	@test -x /usr/bin/chromium || { echo "make test-browser: /usr/bin/chromium not found (apt-get install -y chromium)" >&2; exit 1; }
	$(BIN)/python -m pytest -m browser tests/test_html_browser.py

test-spark: $(STAMP)
	@java -version >/dev/null 2>&1 || { echo "make test-spark: \`java -version\` failed: Spark needs Java 17+ (apt-get install -y openjdk-17-jre-headless)" >&2; exit 1; }
	$(BIN)/python -m pip install --quiet -e '.[test,spark]'
	$(BIN)/python -m tests.s3_server --check
	$(BIN)/python -m pytest -m spark tests/test_spark.py tests/test_spark_cluster.py tests/test_spark_errors.py tests/test_spark_fit.py tests/test_spark_ingest.py tests/test_spark_ingest_s3.py tests/test_spark_s3.py

screenshots: $(STAMP)
	$(BIN)/python docs/screenshots.py

lint: typecheck
	$(BIN)/ruff check src tests benchmarks sample_data

typecheck: $(STAMP)
	$(BIN)/mypy src

bench: $(STAMP)
	$(BIN)/python benchmarks/ingest.py

clean:
	rm -rf $(VENV) demo_store sample_data/generated
