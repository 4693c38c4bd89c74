"""``rollguard topics create|describe``: rollguard's topics from one config."""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated

import typer
from rich.console import Console
from rich.table import Table

from monitor.cli.common import (
    BootstrapOption,
    PrefixOption,
    err_console,
    fail,
    group,
    resolve_bootstrap,
)
from topics.config import TopicsConfig

if TYPE_CHECKING:
    from topics.admin import TopicInfo


def register(app: typer.Typer) -> None:
    family = group(help="Create or describe rollguard's Kafka topics.", no_args_is_help=True)
    app.add_typer(family, name="topics")

    @family.command("create")
    def create(
        bootstrap: BootstrapOption = "",
        prefix: PrefixOption = "rollguard",
        partitions: Annotated[int, typer.Option(help="Partitions of input/state topics.")] = 8,
        replication: Annotated[int, typer.Option(help="Replication factor.")] = 1,
    ) -> None:
        """Create rollguard's topics (idempotent); repair compacted ones created otherwise."""
        from topics.admin import TopicsError, create_topics

        config = TopicsConfig(partitions=partitions, replication=replication).with_prefix(prefix)
        servers = resolve_bootstrap(bootstrap)
        try:
            infos = create_topics(servers, config)
        except TopicsError as exc:
            fail(f"refused: {exc}", code=1)
        except Exception as exc:  # the Kafka client's many error types: one clear message
            fail(f"creating topics failed: {exc}")
        _print(infos)

    @family.command("describe")
    def describe(bootstrap: BootstrapOption = "", prefix: PrefixOption = "rollguard") -> None:
        """Show partitions and settings of rollguard's topics; exit 1 when one is missing or
        set up wrong (a compacted topic that is not compacted, say)."""
        from topics.admin import describe_topics, missing_topics

        servers = resolve_bootstrap(bootstrap)
        config = TopicsConfig().with_prefix(prefix)
        try:
            infos = describe_topics(servers, config)
        except Exception as exc:  # the Kafka client's many error types: one clear message
            fail(f"describing topics failed: {exc}")
        if not infos:
            fail("no rollguard topics found; run `rollguard topics create`", code=1)
        _print(infos)
        missing = missing_topics({i.name for i in infos}, config)
        problems = [p for i in infos for p in i.problems]
        for line in [f"{name}: missing" for name in missing] + problems:
            err_console.print(f"[red]problem:[/] {line}")
        if missing or problems:
            fail("run `rollguard topics create` to create or repair them", code=1)


def _print(infos: list[TopicInfo]) -> None:
    table = Table("topic", "partitions", "settings", "created now", "problems / repaired")
    for info in infos:
        settings = ", ".join(f"{k}={v}" for k, v in sorted(info.configs.items()))
        notes = [*info.problems, *(f"repaired: {r}" for r in info.repaired)]
        table.add_row(
            info.name,
            str(info.partitions),
            settings,
            "yes" if info.created else "",
            "; ".join(notes),
        )
    console = Console()
    if not console.is_terminal:  # a pipe or a log: never cut a setting or a problem short
        console = Console(width=200)
    console.print(table)
