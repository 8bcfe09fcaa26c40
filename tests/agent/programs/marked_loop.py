"""A framework-free loop marked with stepscope.step(), in the call form or the `with` form."""
import os
import subprocess
import sys
import time

import stepscope

form, steps = sys.argv[1], int(sys.argv[2])
for i in range(steps):
    if form == "call":
        time.sleep(0.005)
        stepscope.step(loss=float(i), batch_size=8)
    elif form == "with":
        with stepscope.step(batch_size=8):
            time.sleep(0.005)
    elif form == "fork":  # a forked child marking steps too must stay silent
        pid = os.fork()
        if pid == 0:
            stepscope.step(loss=-1.0)
            os._exit(0)
        os.waitpid(pid, 0)
        stepscope.step(loss=float(i))
    elif form == "system":  # a Python started with the channel's fd inherited must stay silent too
        subprocess.run([sys.executable, "-c", "import stepscope; stepscope.step(loss=-2.0)"], close_fds=False, check=True)
        stepscope.step(loss=float(i))
print(f"ran {steps} steps")
sys.exit(int(os.environ.get("EXIT_CODE", "0")))
