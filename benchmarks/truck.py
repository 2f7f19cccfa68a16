"""Truck backer-upper: the batched simulator vs one truck at a time, and one controller update.

1. Simulator throughput in truck-steps per second, in the same run, one thread:
   - the notebook's way: plain Python `math` on one truck at a time;
   - `dlcourse.data.truck.step` called on one truck at a time (a (1, 6) tensor);
   - the same `step` on a batch of 1,000 trucks (one call steps them all).
2. One controller update of the lesson (3 seeds × 128 trucks, 100 emulator calls, backward):
   the plain modules (`Controller.forward`, `Emulator.step`) vs their folded equivalents
   (`Controller.policy()`, `Emulator.stepper()`: same numbers, fewer tensor ops per step).

    python benchmarks/truck.py
"""

import math
import time

import torch

from dlcourse.data import truck as sim
from dlcourse.models.truck import Controller, Emulator


def python_step(s, phi, speed=sim.SPEED):
    """The notebook's update on one truck, in plain Python floats."""
    x, y, th0, _, _, th1 = s
    x2, y2 = x + speed * math.cos(th0), y + speed * math.sin(th0)
    th1 = th1 + speed / sim.TRAILER_LENGTH * math.sin(th0 - th1)
    th0 = th0 + speed / sim.CAB_LENGTH * math.tan(phi)
    return (x2, y2, th0, x2 - sim.TRAILER_LENGTH * math.cos(th1), y2 - sim.TRAILER_LENGTH * math.sin(th1), th1)


def rate(fn, truck_steps, repeat=3):
    fn()  # warm-up
    best = math.inf
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - start)
    return truck_steps / best


def main():
    torch.set_num_threads(1)
    g = torch.Generator().manual_seed(0)
    trucks, steps = 1000, 200
    batch = sim.random_starts(trucks, g)
    phi = torch.zeros(trucks)

    def python_loop(n=20):
        for s in batch[:n].tolist():
            for _ in range(steps):
                s = python_step(s, 0.0)

    def torch_one_at_a_time(n=20):
        for i in range(n):
            s = batch[i:i + 1]
            for _ in range(steps):
                s = sim.step(s, phi[:1])

    def torch_batched():
        s = batch
        for _ in range(steps):
            s = sim.step(s, phi)

    rows = [("python math, one truck at a time", rate(python_loop, 20 * steps)),
            ("torch step, one truck at a time", rate(torch_one_at_a_time, 20 * steps)),
            (f"torch step, batch of {trucks}", rate(torch_batched, trucks * steps))]
    base = rows[1][1]
    print(f"{'simulator (1 thread)':<36} {'truck-steps/s':>14} {'vs torch 1-at-a-time':>22}")
    for name, r in rows:
        print(f"{name:<36} {r:>14,.0f} {r / base:>21.1f}x")

    # one controller update: 3 seeds x 128 trucks, 100 emulator calls of 5 simulator steps each
    emulator, controller = Emulator(), Controller(3, generator=g)
    x, y = sim.random_steering_episodes(300, g, hold=5)
    emulator.fit_scalers(x, y)
    emulator.requires_grad_(False)
    starts = sim.random_starts(3 * 128, g).reshape(3, 128, 6)

    def update(policy, dynamics):
        def go():
            path, last, _ = sim.rollout(policy(), starts, dynamics(), 100, check_every=1000)
            sim.final_states(path, last)[..., 3:5].pow(2).sum().backward()
        return go

    plain = rate(update(lambda: controller, lambda: emulator.step), 1)
    folded = rate(update(controller.policy, emulator.stepper), 1)
    print()
    print(f"{'controller update (100-step BPTT)':<36} {'ms/update':>14} {'speed-up':>22}")
    print(f"{'plain modules':<36} {1e3 / plain:>14.0f} {1.0:>21.1f}x")
    print(f"{'folded policy() / stepper()':<36} {1e3 / folded:>14.0f} {folded / plain:>21.1f}x")


if __name__ == "__main__":
    main()
