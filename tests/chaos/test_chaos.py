"""CI entry of the chaos harness: a bounded run (CHAOS_DURATION seconds of
faults, default 75; CHAOS_WITH_WIPE=0 leaves out the data-loss restart) of
tests/chaos/chaos.py against a 5-node cluster; it must lose no acknowledged
change and leave no node divergent (every node's DIGEST equal). The figures
are printed whatever the outcome."""
import os
import random
import sys

sys.path.insert(0, os.path.dirname(__file__))

import chaos  # noqa: E402


def test_chaos_run_loses_nothing_and_converges(tmp_path, capsys):
    duration = float(os.environ.get("CHAOS_DURATION", "75"))
    seed = int(os.environ.get("CHAOS_SEED", random.randrange(1 << 30)))
    with_wipe = os.environ.get("CHAOS_WITH_WIPE", "1") != "0"
    run = chaos.Chaos(str(tmp_path), duration, seed, with_wipe=with_wipe)
    try:
        result = run.run()
    finally:
        run.close()
    text = chaos.report(result)
    with capsys.disabled():
        print("\n" + text)
    assert result["faults_total"] > 0, "no fault was injected"
    assert result["changes_acknowledged"] > 0, "no change was acknowledged"
    assert not result["lost"], f"acknowledged changes lost (seed {seed}):\n{text}"
    assert not result["resurrected"], f"removed records came back (seed {seed}):\n{text}"
    assert not result["phantom"], f"records nobody proposed (seed {seed}):\n{text}"
    assert not result["divergent"], f"nodes diverge (seed {seed}):\n{text}"
    assert result["digests_equal"], f"store digests differ (seed {seed}):\n{text}"
    assert not result["silent_rejoins"], f"a wiped node took part as a voter unreplaced (seed {seed}):\n{text}"
