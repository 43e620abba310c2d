"""Engines that compute evalctl's partial states somewhere else than this process (README:
"Engines: Spark").

- `settings`: the config's ``engine:`` section (no engine is imported to parse it).
- `spark`: profiles (the documented partial states of `evalctl.profiles.format`) computed on
  Spark executors by the very code the local engine runs, merged on the driver.
"""
