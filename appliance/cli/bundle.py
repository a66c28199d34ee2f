"""`airlock bundle build|verify|keygen`: the offline installer bundle, optionally signed."""
from __future__ import annotations

import argparse
from pathlib import Path

from appliance.bundle.target import KINDS


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser("bundle", help="build, verify or sign the offline installer bundle")
    actions = parser.add_subparsers(dest="bundle_command", required=True)
    build = actions.add_parser("build", help="build one archive for a target")
    build.add_argument("--output", required=True, type=Path, help="folder to write the archive into")
    build.add_argument("--target", choices=KINDS, default="cpu", help="torch build (default cpu)")
    build.add_argument("--python", default="3.11", help="target Python version (default 3.11)")
    build.add_argument("--platform", default="manylinux_2_28_x86_64", help="target platform tag")
    build.add_argument("--torch", help="torch version (default: 2.13.0 for cpu, newest for cuda)")
    build.add_argument("--extra-index-url", action="append", default=[], help="another package index")
    build.add_argument("--models", nargs="*", default=[], metavar="MODEL",
                       help="model files or folders, or names of models in the store (or in var/models)")
    build.add_argument("--cache", type=Path, help="wheelhouse cache folder (default var/wheelhouse-cache)")
    build.add_argument("--sign", type=Path, metavar="KEY", help="ed25519 private key (PEM): sign the MANIFEST")
    build.set_defaults(func=run_build)
    verify = actions.add_parser("verify", help="check an archive against its MANIFEST")
    verify.add_argument("archive", type=Path)
    verify.add_argument("--key", type=Path, help="public key (PEM): the bundle must carry a signature by it")
    verify.set_defaults(func=run_verify)
    keygen = actions.add_parser("keygen", help="write a new ed25519 signing key and its .pub half")
    keygen.add_argument("key", type=Path, help="private key file to write (mode 0600); the public key goes to KEY.pub")
    keygen.set_defaults(func=run_keygen)


def run_build(args: argparse.Namespace) -> int:
    from appliance.bundle.build import DEFAULT_CACHE, BundleError, BundleSpec, build_bundle, find_model
    from appliance.bundle.target import Target, TargetError
    from appliance.bundle.wheelhouse import WheelhouseError
    try:
        target = Target(args.target, args.python, args.platform, args.torch, tuple(args.extra_index_url))
        models = tuple(find_model(m) for m in args.models)
        spec = BundleSpec(args.output, target, models, args.cache or DEFAULT_CACHE, args.sign)
        print(f"airlock bundle: building for {target.slug} (pip resolves the wheelhouse; the first build downloads it)")
        archive = build_bundle(spec)
    except (TargetError, BundleError, WheelhouseError) as exc:
        print(f"airlock bundle: {exc}")
        return 2
    except OSError as exc:
        print(f"airlock bundle: cannot write the bundle into {args.output}: {exc}")
        return 1
    print(f"airlock bundle: wrote {archive} ({archive.stat().st_size / 1e6:.0f} MB)")
    return 0


def run_verify(args: argparse.Namespace) -> int:
    from appliance.bundle.verify import verify_bundle
    report = verify_bundle(args.archive, args.key)
    if report.ok:
        signed = f", signed by {args.key}" if args.key else (", signed (pass --key to check)" if report.signed else "")
        print(f"airlock bundle: {args.archive}: all {report.checked} members match MANIFEST{signed}")
        return 0
    for problem in report.problems():
        print(f"airlock bundle: FAIL {problem}")
    return 1


def run_keygen(args: argparse.Namespace) -> int:
    from appliance.bundle.signing import SigningError, fingerprint, generate_key
    try:
        public = generate_key(args.key)
    except SigningError as exc:
        print(f"airlock bundle: {exc}")
        return 2
    except OSError as exc:
        print(f"airlock bundle: cannot write {exc.filename or args.key}: {exc.strerror}")
        return 1
    print(f"airlock bundle: wrote {args.key} (keep it off the target hosts) and {public}")
    print(f"airlock bundle: pin {public} on each host as <conf-dir>/bundle-signing.pub; fingerprint {fingerprint(public)}")
    return 0
