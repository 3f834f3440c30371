#!/usr/bin/python3
"""Generate the benchmark's AlmaLinux-shaped network on disk, and what points at it.

Subcommands (all write below --work):

  tree       the file tree nginx serves: one copy of every repomd.xml the shipped layout
             names (136 per mirror, 151 upstream with Kitten), createrepo_c-shaped (3-5 KB,
             7-10 <data> entries), and the data files each references, as sparse files of
             the stated size (HEAD checks compare Content-Length). Mirror m<i> is a symlink
             www/m<i> -> _root, so every mirror serves the same bytes through its own path.
  nginx      nginx.conf: the mirrors on 127.20.x.y:PORT (one address per mirror), the
             upstream on 127.19.0.1:PORT, a static file server on 127.0.0.1:PORT+1 and
             stub_status on 127.0.0.1:PORT+2. Loopback addresses only.
  config     a mirrorwatch configuration for N mirrors (IP-literal URLs, ipv4, http,
             a resolver at 127.0.0.1:1 that is never asked).
             It also writes targets.txt for the wrk Lua scripts: one line per target of a
             mirror, "<dir> <etag> <data file> ..." (paths relative to a mirror's base).
  clone-state  copy the state of mirror m0 to m0..m<N-1> (every mirror serves the same
             bytes, so this is the state a daemon that knows N mirrors restarts with).

Everything is deterministic: the same layout gives the same bytes.
"""

import argparse
import email.utils
import hashlib
import json
import os
import sys

import yaml

# Every file gets this modification time, so ETag and Last-Modified are predictable.
MTIME = 1763596800  # 2025-11-20T00:00:00Z
UPSTREAM_ADDR = "127.19.0.1"
COUNTRIES = [
    ("US", "NA"), ("DE", "EU"), ("FR", "EU"), ("GB", "EU"), ("NL", "EU"), ("SE", "EU"),
    ("JP", "AS"), ("CN", "AS"), ("BR", "SA"), ("AU", "OC"), ("IN", "AS"), ("ZA", "AF"),
    ("CA", "NA"), ("PL", "EU"), ("CZ", "EU"), ("IT", "EU"), ("ES", "EU"), ("KR", "AS"),
    ("SG", "AS"), ("CH", "EU"), ("FI", "EU"), ("AT", "EU"), ("TW", "AS"), ("MX", "NA"),
]


def mirror_addr(i):
    """Mirror i's own loopback address: 127.20.<i/250>.<i%250+1>."""
    return f"127.20.{i // 250}.{i % 250 + 1}"


def load_layout(mirrors_yaml):
    with open(mirrors_yaml) as f:
        return yaml.safe_load(f)["layout"]


def major(version):
    digits = ""
    for c in version:
        if not c.isdigit():
            break
        digits += c
    return digits


def targets(layout, with_modules):
    """(version, repo name, dir) for every expected repomd.xml, in the layout's order
    (docs/configuration.md, "Which files a mirror is expected to serve")."""
    versions = [(v, False) for v in layout["versions"]]
    if with_modules:
        for module, majors in (layout.get("modules") or {}).items():
            for m in majors:
                versions.append((f"{m}-{module}", True))
    arches = layout["arches"]
    out = []
    for version, is_module in versions:
        if is_module:
            v_arches = arches.get(version, [])
        else:
            v_arches = arches.get(version, arches.get(major(version), []))
        for repo in layout["repos"]:
            if repo.get("vault"):
                continue
            if "versions" in repo and version not in repo["versions"]:
                continue
            r_arches = [a for a in v_arches if a in repo.get("arches", v_arches)]
            for arch in r_arches:
                path = repo["path"].replace("$basearch", arch)
                if path.startswith("./"):
                    path = path[2:]
                if not path.endswith("/"):
                    path += "/"
                out.append((version, repo["name"], f"{version}/{path}"))
    return out


def h(*parts):
    return hashlib.sha256("\0".join(parts).encode()).hexdigest()


def size_of(seed, low, high):
    return low + int(h("size", seed)[:12], 16) % (high - low)


# The <data> entries of a repository, createrepo_c style. (type, suffix, zck, size range)
BASE_ENTRIES = [
    ("primary", "primary.xml.gz", False, (200_000, 12_000_000)),
    ("filelists", "filelists.xml.gz", False, (400_000, 40_000_000)),
    ("other", "other.xml.gz", False, (100_000, 8_000_000)),
    ("primary_zck", "primary.xml.zck", True, (250_000, 14_000_000)),
    ("filelists_zck", "filelists.xml.zck", True, (500_000, 45_000_000)),
    ("other_zck", "other.xml.zck", True, (120_000, 9_000_000)),
    ("updateinfo", "updateinfo.xml.gz", False, (2_000, 3_000_000)),
]
GROUP_ENTRIES = [
    ("group", "comps.xml", False, (50_000, 1_500_000)),
    ("group_xz", "comps.xml.xz", False, (10_000, 300_000)),
]
MODULE_ENTRIES = [("modules", "modules.yaml.gz", False, (20_000, 900_000))]


def entries_for(repo):
    entries = list(BASE_ENTRIES)
    if repo in ("baseos", "appstream", "powertools", "crb", "highavailability", "ha"):
        entries += GROUP_ENTRIES
    if repo == "appstream":
        entries += MODULE_ENTRIES
    return entries


def repomd(version, repo, dirpath):
    """The repomd.xml of one target and its data files as (href, size)."""
    revision = MTIME - int(h("rev", dirpath)[:4], 16)
    lines = [
        '<?xml version="1.0" encoding="UTF-8"?>',
        '<repomd xmlns="http://linux.duke.edu/metadata/repo" '
        'xmlns:rpm="http://linux.duke.edu/metadata/rpm">',
        f"  <revision>{revision}</revision>",
    ]
    files = []
    for kind, suffix, zck, (low, high) in entries_for(repo):
        seed = f"{dirpath}{kind}"
        size = size_of(seed, low, high)
        open_size = size * (1 if suffix.endswith(".xml") else 7)
        checksum = h("checksum", seed)
        href = f"repodata/{checksum}-{suffix}"
        files.append((href, size))
        lines.append(f'  <data type="{kind}">')
        lines.append(f'    <checksum type="sha256">{checksum}</checksum>')
        if not suffix.endswith(".xml"):
            lines.append(f'    <open-checksum type="sha256">{h("open", seed)}</open-checksum>')
        if zck:
            lines.append(f'    <header-checksum type="sha256">{h("header", seed)}</header-checksum>')
        lines.append(f'    <location href="{href}"/>')
        lines.append(f"    <timestamp>{revision - int(h('ts', seed)[:2], 16)}</timestamp>")
        lines.append(f"    <size>{size}</size>")
        if not suffix.endswith(".xml"):
            lines.append(f"    <open-size>{open_size}</open-size>")
        if zck:
            lines.append(f"    <header-size>{size_of(seed + 'hdr', 1000, 90000)}</header-size>")
        lines.append("  </data>")
    lines.append("</repomd>")
    return ("\n".join(lines) + "\n").encode(), files


def cmd_tree(args):
    layout = load_layout(args.mirrors_yaml)
    root = os.path.join(args.work, "www", "_root", "almalinux")
    total, count, sizes, heads = 0, 0, [], 0
    lines = []
    for version, repo, dirpath in targets(layout, with_modules=True):
        body, files = repomd(version, repo, dirpath)
        d = os.path.join(root, dirpath, "repodata")
        os.makedirs(d, exist_ok=True)
        path = os.path.join(d, "repomd.xml")
        with open(path, "wb") as f:
            f.write(body)
        os.utime(path, (MTIME, MTIME))
        for href, size in files:
            p = os.path.join(root, dirpath, href)
            with open(p, "wb") as f:
                f.truncate(size)  # sparse: the size is what a HEAD checks
            os.utime(p, (MTIME, MTIME))
        if not version.endswith("-kitten"):
            count += 1
            sizes.append(len(body))
            heads += len(files)
            # nginx's ETag is "<mtime hex>-<size hex>".
            etag = f'"{MTIME:x}-{len(body):x}"'
            lines.append(" ".join([dirpath, etag] + [href for href, _ in files]))
        total += 1
    with open(os.path.join(args.work, "targets.txt"), "w") as f:
        f.write("\n".join(lines) + "\n")
    www = os.path.join(args.work, "www")
    link = os.path.join(www, "upstream")
    if not os.path.islink(link):
        os.symlink("_root", link)
    for i in range(args.mirrors):
        link = os.path.join(www, f"m{i}")
        if not os.path.islink(link):
            os.symlink("_root", link)
    summary = {
        "targets_per_mirror": count,
        "targets_upstream": total,
        "repomd_bytes_min": min(sizes),
        "repomd_bytes_max": max(sizes),
        "repomd_bytes_mean": sum(sizes) / len(sizes),
        "data_files_per_mirror": heads,
        "last_modified": email.utils.formatdate(MTIME, usegmt=True),
    }
    json.dump(summary, sys.stdout, indent=1)
    print()


def cmd_nginx(args):
    w = args.work
    listens = "\n".join(
        f"    listen {mirror_addr(i)}:{args.port};" for i in range(args.mirrors)
    )
    conf = f"""# Generated by bench/gen.py: the benchmark's mirrors, loopback addresses only.
worker_processes {args.workers};
worker_rlimit_nofile 20000;
pid {w}/nginx.pid;
error_log {w}/nginx-error.log warn;
events {{
    worker_connections 16000;
}}
http {{
    types {{ text/xml xml; }}
    default_type application/octet-stream;
    sendfile on;
    tcp_nopush on;
    tcp_nodelay on;
    keepalive_timeout 65s;
    keepalive_requests 1000000;
    server_tokens off;
    client_body_temp_path {w}/tmp/body;
    proxy_temp_path {w}/tmp/proxy;
    fastcgi_temp_path {w}/tmp/fastcgi;
    uwsgi_temp_path {w}/tmp/uwsgi;
    scgi_temp_path {w}/tmp/scgi;
    log_format bench '$server_addr $request_method $status $bytes_sent $request_length';
    include {w}/nginx-log.conf;
    # The mirrors (127.20.x.y, mirror i at /m<i>/) and the upstream (127.19.0.1).
    server {{
    listen {UPSTREAM_ADDR}:{args.port};
{listens}
        root {w}/www;
    }}
    # The same bytes as mirrorwatch's /mirrorlist answer, as a static file.
    server {{
        listen 127.0.0.1:{args.port + 1};
        root {w}/static;
        default_type "text/plain; charset=utf-8";
    }}
    server {{
        listen 127.0.0.1:{args.port + 2};
        location / {{ stub_status; }}
    }}
}}
"""
    os.makedirs(os.path.join(w, "tmp"), exist_ok=True)
    with open(os.path.join(w, "nginx.conf"), "w") as f:
        f.write(conf)
    log = os.path.join(w, "nginx-log.conf")
    if not os.path.exists(log):
        with open(log, "w") as f:
            f.write("access_log off;\n")


def cmd_config(args):
    layout = load_layout(args.mirrors_yaml)
    upstream = f"http://{UPSTREAM_ADDR}:{args.port}/upstream/almalinux/"
    mirrors = []
    for i in range(args.mirrors):
        country, continent = COUNTRIES[i % len(COUNTRIES)]
        mirrors.append({
            "name": f"m{i}.bench.example",
            "address": {"http": f"http://{mirror_addr(i)}:{args.port}/m{i}/almalinux/"},
            "country": country,
            "continent": continent,
        })
    config = {
        "upstream": {"urls": [upstream], "modules": {"kitten": [upstream]}},
        "layout": layout,
        "mirrors": mirrors,
        "probe": {
            "interval": args.interval,
            # Every file in every sweep unless asked otherwise: most figures measure whole
            # sweeps. "default" leaves the daemon's own (the change-driven planner).
            **({} if args.full_every == "default" else {"full_every": args.full_every or args.interval}),
            "timeout": args.timeout,
            "connect_timeout": args.timeout,
            "concurrency": args.concurrency,
            "per_host": 4,
            "ip_families": ["ipv4"],
            "protocols": ["http"],
            "dns_servers": ["127.0.0.1:1"],
        },
        "freshness": {"upstream_interval": "60s"},
        # bench/run.sh passes --listen 127.0.0.1:0 and reads the port from the log.
        "serve": {"listen": "127.0.0.1:0"},
        "state": {"path": args.state, "save_interval": "1h"},
    }
    with open(args.out, "w") as f:
        f.write("# Generated by bench/gen.py.\n")
        yaml.safe_dump(config, f, sort_keys=False, width=200)


def cmd_clone_state(args):
    with open(args.src) as f:
        doc = json.load(f)
    mirrors = doc["state"]["mirrors"]
    first = mirrors["m0.bench.example"]
    doc["state"]["mirrors"] = {f"m{i}.bench.example": first for i in range(args.mirrors)}
    with open(args.out, "w") as f:
        json.dump(doc, f)


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--work", required=True)
    p.add_argument("--port", type=int, default=18080, help="the mirrors' port; +1 static, +2 stub_status")
    sub = p.add_subparsers(dest="cmd", required=True)
    t = sub.add_parser("tree")
    t.add_argument("--mirrors-yaml", required=True)
    t.add_argument("--mirrors", type=int, required=True)
    n = sub.add_parser("nginx")
    n.add_argument("--mirrors", type=int, required=True)
    n.add_argument("--workers", type=int, default=2)
    c = sub.add_parser("config")
    c.add_argument("--mirrors-yaml", required=True)
    c.add_argument("--mirrors", type=int, required=True)
    c.add_argument("--interval", default="60s")
    c.add_argument("--timeout", default="20s")
    c.add_argument("--full-every", default="", help="probe.full_every (default: the interval; 'default': the daemon's)")
    c.add_argument("--concurrency", type=int, default=64)
    c.add_argument("--state", required=True)
    c.add_argument("--out", required=True)
    s = sub.add_parser("clone-state")
    s.add_argument("--src", required=True)
    s.add_argument("--mirrors", type=int, required=True)
    s.add_argument("--out", required=True)
    args = p.parse_args()
    {"tree": cmd_tree, "nginx": cmd_nginx, "config": cmd_config, "clone-state": cmd_clone_state}[args.cmd](args)


if __name__ == "__main__":
    main()
