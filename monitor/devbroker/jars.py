"""Kafka's jars, fetched once from Maven Central through Maven into a cache outside the
repository (``~/.cache/rollguard`` or ``$ROLLGUARD_CACHE``)."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path
from typing import Final

from topics.errors import RollguardError

KAFKA_VERSION: Final = "4.0.1"  # the one place the broker version is set
LOG4J_VERSION: Final = "2.24.3"

_POM: Final = """<project xmlns="http://maven.apache.org/POM/4.0.0">
  <modelVersion>4.0.0</modelVersion>
  <groupId>rollguard</groupId><artifactId>kafka-runtime</artifactId><version>1</version>
  <dependencies>
    <dependency><groupId>org.apache.kafka</groupId><artifactId>kafka_2.13</artifactId>
      <version>{kafka}</version></dependency>
    <dependency><groupId>org.apache.logging.log4j</groupId><artifactId>log4j-api</artifactId>
      <version>{log4j}</version></dependency>
    <dependency><groupId>org.apache.logging.log4j</groupId><artifactId>log4j-core</artifactId>
      <version>{log4j}</version></dependency>
    <dependency><groupId>org.apache.logging.log4j</groupId>
      <artifactId>log4j-slf4j-impl</artifactId><version>{log4j}</version></dependency>
  </dependencies>
</project>
"""


class BrokerError(RollguardError):
    """The development broker could not be fetched, started or reached."""


def cache_dir() -> Path:
    return Path(os.environ.get("ROLLGUARD_CACHE", Path.home() / ".cache" / "rollguard"))


def jars_ready(version: str = KAFKA_VERSION) -> bool:
    """Whether the broker's jars are in the cache already (no download needed)."""
    return (cache_dir() / f"kafka-{version}" / ".complete").exists()


def ensure_jars(version: str = KAFKA_VERSION) -> Path:
    """Return the directory of the broker's jars, fetching them with Maven the first time."""
    home = cache_dir() / f"kafka-{version}"
    libs = home / "libs"
    marker = home / ".complete"
    if jars_ready(version):
        return libs
    if shutil.which("mvn") is None:
        raise BrokerError("Maven (mvn) is needed once to fetch Kafka's jars; install it")
    home.mkdir(parents=True, exist_ok=True)
    (home / "pom.xml").write_text(_POM.format(kafka=version, log4j=LOG4J_VERSION))
    proc = subprocess.run(
        [
            "mvn",
            "-B",
            "-q",
            "-f",
            str(home / "pom.xml"),
            "dependency:copy-dependencies",
            "-DincludeScope=runtime",
            f"-DoutputDirectory={libs}",
        ],
        capture_output=True,
        text=True,
        check=False,
    )
    if proc.returncode != 0 or not any(libs.glob(f"kafka_2.13-{version}.jar")):
        tail = (proc.stdout + proc.stderr)[-3000:]
        raise BrokerError(f"fetching Kafka {version} jars with Maven failed:\n{tail}")
    marker.write_text(version)
    return libs
