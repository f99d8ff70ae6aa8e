"""Ray's own lines go to the run's log file; assay's output and warnings stay on the terminal."""

import logging
import os

from rich.console import Console

from pipelines.runlog import log_path, stderr_to_log


def test_what_is_written_to_stderr_goes_to_the_log_and_assay_output_to_the_terminal(tmp_path, capfd):
    console = Console(stderr=True)
    handler = logging.StreamHandler()  # a root handler on stderr, as `logging.basicConfig` installs
    logging.getLogger().addHandler(handler)
    try:
        with stderr_to_log(tmp_path / "logs" / "run.log", console) as log:
            os.write(2, b"[2026-12-05 09:16:19,764 E 1 1] core_worker.cc:2465: a C++ line\n")
            console.print("assay: 3 parts done")
            logging.getLogger("operators.pipeline").warning("an assay warning")
    finally:
        logging.getLogger().removeHandler(handler)
    err = capfd.readouterr().err
    assert "assay: 3 parts done" in err and "an assay warning" in err
    assert "core_worker" not in err
    assert "core_worker.cc:2465: a C++ line" in log.read_text()
    os.write(2, b"after\n")  # stderr is the terminal again
    assert "after" in capfd.readouterr().err


def test_verbose_leaves_stderr_alone(tmp_path, capfd):
    with stderr_to_log(tmp_path / "run.log", Console(stderr=True), verbose=True) as log:
        os.write(2, b"a Ray line\n")
    assert log is None and "a Ray line" in capfd.readouterr().err
    assert not (tmp_path / "run.log").exists()


def test_log_path_is_under_a_local_output_and_in_a_temporary_folder_for_a_remote_one(tmp_path):
    assert log_path(str(tmp_path)).parent == tmp_path / "logs"
    assert log_path("s3://bucket/out").parent.name == "assay-logs"
