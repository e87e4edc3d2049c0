"""The one C extension, the replay table's hot path (src/pyehsm/store/_replay_probe.c), built by pip with the
system's C compiler. Everything else about the package is in pyproject.toml (setuptools' ext-modules table
there is still experimental, so the extension is declared here).

The extension is optional: without a C compiler (or the Python headers, or on a system without Linux's
open-file-description locks) pip prints the build error and installs pyehsm anyway, and the replay table
runs its Python path (`pyehsm serve` logs which one runs; /metrics has pyehsm_replay_probe_info)."""

from setuptools import Extension, setup

setup(
    ext_modules=[
        Extension(
            "pyehsm.store._replay_probe",
            sources=["src/pyehsm/store/_replay_probe.c"],
            extra_compile_args=["-O2", "-Wall", "-Wextra"],
            optional=True,
        )
    ]
)
