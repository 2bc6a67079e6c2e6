"""Settings of the local stack (`feedbackloop up`, `kafka`, `status`), prefix FEEDBACKLOOP_."""

from pathlib import Path

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

REPO_ROOT = Path(__file__).resolve().parents[2]

#: In pipeline order; `signals` is the faust worker that counts hotspots.
SERVICES = ("intake", "router", "followup", "metrics", "signals")


class StackSettings(BaseSettings):
    """Where the local stack keeps its state and which loopback ports it uses."""

    model_config = SettingsConfigDict(env_prefix="FEEDBACKLOOP_", extra="ignore")

    state_dir: Path = Field(
        default=Path(".var"), description="Kafka data, SQLite stores, logs and pid files."
    )
    data_dir: Path = Field(
        default=REPO_ROOT.parent / "shared" / "data",
        description="The citizen messages and taxonomy (read-only).",
    )
    kafka_pom: Path = REPO_ROOT / "deploy" / "kafka" / "pom.xml"
    kafka_port: int = 9092
    kafka_controller_port: int = 9093
    kafka_heap: str = "512m"
    topic_partitions: int = Field(default=6, ge=1)
    router_model_dir: Path = Field(
        default=Path(".var/models/router"), description="The router's trained category model."
    )
    intake_port: int = 8001
    router_port: int = 8002
    followup_port: int = 8003
    metrics_port: int = 8004
    signals_port: int = 8005

    def port_of(self, service: str) -> int:
        """The loopback port a service listens on."""
        return int(getattr(self, f"{service}_port"))

    def url_of(self, service: str) -> str:
        """The base URL of a service."""
        return f"http://127.0.0.1:{self.port_of(service)}"
