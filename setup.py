"""The one C extension, the replay table's hot path (src/pyehsm/store/_replay_probe.c), built by pip with the
system's C compiler. Everything else about the package is in pyproject.toml (setuptools' ext-modules table
there is still experimental, so the extension is declared here)."""

from setuptools import Extension, setup

setup(
    ext_modules=[
        Extension(
            "pyehsm.store._replay_probe",
            sources=["src/pyehsm/store/_replay_probe.c"],
            extra_compile_args=["-O2", "-Wall", "-Wextra"],
        )
    ]
)
