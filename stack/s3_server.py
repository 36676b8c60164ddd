"""S3 from SeaweedFS (`weed server`): master, volume, filer and S3 gateway in one process."""

import json
import signal
from pathlib import Path

from stack.binaries import venv_binary
from stack.probes import S3Check
from stack.server import Server

# Every port weed would otherwise take at a fixed default (gRPC ones default to HTTP + 10000).
INTERNAL_PORTS = (
    "master",
    "master_grpc",
    "volume",
    "volume_grpc",
    "filer",
    "filer_grpc",
    "grpc",
)
IDENTITIES_FILE = "s3-identities.json"
# Each bucket is a weed collection, and a collection grows by 7 volumes at its first write by
# default: 200 volume slots would then hold 28 buckets only. Grow by 2: 100 buckets.
MASTER_CONFIG = """\
[master.volume_growth]
copy_1 = 2
copy_2 = 2
copy_3 = 1
copy_other = 1
"""
# The longest unix socket path Linux accepts, with room for the name weed appends.
MAX_SOCKET_PATH = 100
# weed names the unix sockets it puts in /tmp by port: seaweedfs-<service>[-grpc]-<port>.sock
WEED_SOCKETS = "seaweedfs-*-{port}.sock"


class S3(Server):
    name = "s3"
    # weed ignores SIGTERM and SIGINT: it runs its shutdown hooks, then hangs. A short grace
    # lets the hooks flush what they can before the SIGKILL.
    stop_signal = signal.SIGTERM
    stop_grace = 3.0

    def __init__(
        self,
        state_dir: Path,
        *,
        port: int,
        internal_ports: dict[str, int],
        access_key: str = "armonik",
        secret_key: str = "armonik",
        region: str = "us-east-1",
        https: tuple[int, Path, Path] | None = None,
    ) -> None:
        """`https`: also serve S3 over TLS, on (port, certificate file, key file)."""
        super().__init__(state_dir)
        missing = set(INTERNAL_PORTS) - set(internal_ports)
        if missing:
            raise ValueError(f"S3 needs ports for {sorted(missing)}")
        self.port = port
        self.internal_ports = dict(internal_ports)
        self.data_dir = self.state_dir / "s3"
        self.endpoint = f"http://127.0.0.1:{port}"
        self._credentials = (access_key, secret_key)
        self.https = https
        self._check = S3Check(self.endpoint, access_key, secret_key, region)

    def command(self) -> list[str]:
        ports = self.internal_ports
        command = [
            str(venv_binary("weed")),
            # Logs on stderr (our log file) instead of glog files in /tmp.
            "-logtostderr",
            # master.toml from the data folder, not from the working or home folder.
            f"-config_dir={self.data_dir}",
            "server",
            "-ip=127.0.0.1",
            "-ip.bind=127.0.0.1",
            f"-dir={self.data_dir}",
            f"-master.port={ports['master']}",
            f"-master.port.grpc={ports['master_grpc']}",
            # With one master, the default 10 s election timeout only delays a restart on
            # resumed raft state (19 s to ready instead of 3 s).
            "-master.electionTimeout=1s",
            "-master.volumeSizeLimitMB=512",
            "-master.telemetry=false",
            f"-volume.port={ports['volume']}",
            f"-volume.port.grpc={ports['volume_grpc']}",
            # Volumes are sparse files: many slots cost nothing until written.
            "-volume.max=200",
            "-volume.preStopSeconds=0",
            "-filer",
            f"-filer.port={ports['filer']}",
            f"-filer.port.grpc={ports['filer_grpc']}",
            "-s3",
            f"-s3.config={self.data_dir / IDENTITIES_FILE}",
            f"-s3.port={self.port}",
            f"-s3.port.grpc={ports['grpc']}",
            # Iceberg and Lance catalogs: not needed, and they listen on fixed ports.
            "-s3.port.iceberg=0",
            "-s3.port.lance=0",
        ]
        if self.https:
            port, cert, key = self.https
            command += [f"-s3.port.https={port}", f"-s3.cert.file={cert}", f"-s3.key.file={key}"]
        # weed's HTTP unix sockets default to /tmp; keep them in the state folder if they fit.
        if len(str(self.data_dir / "seaweedfs-filer.sock")) < MAX_SOCKET_PATH:
            command += [
                f"-filer.localSocket={self.data_dir / 'seaweedfs-filer.sock'}",
                f"-s3.localSocket={self.data_dir / 'seaweedfs-s3.sock'}",
            ]
        return command

    def check(self) -> None:
        self._check()

    def prepare(self) -> None:
        self.data_dir.mkdir(parents=True, exist_ok=True)
        (self.data_dir / "master.toml").write_text(MASTER_CONFIG)
        # Without any identity, weed accepts every request but lists no bucket to anyone;
        # with one, it behaves like S3: these credentials, and no others, may do anything.
        access_key, secret_key = self._credentials
        identities = {
            "identities": [
                {
                    "name": "armonik",
                    "credentials": [{"accessKey": access_key, "secretKey": secret_key}],
                    "actions": ["Admin", "Read", "List", "Tagging", "Write"],
                }
            ]
        }
        identities_path = self.data_dir / IDENTITIES_FILE
        identities_path.write_text(json.dumps(identities, indent=2))
        identities_path.chmod(0o600)

    def leftovers(self) -> list[str]:
        # Its gRPC unix sockets always go to /tmp, and a SIGKILL leaves them there.
        in_tmp = [f"/tmp/{WEED_SOCKETS.format(port=port)}" for port in self.all_ports()]
        return [*in_tmp, str(self.data_dir / "seaweedfs-*.sock")]

    def all_ports(self) -> list[int]:
        return [self.port, *self.internal_ports.values(), *([self.https[0]] if self.https else [])]
