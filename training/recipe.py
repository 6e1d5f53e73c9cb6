"""Teachers, then a student that learns from them, in one resumable command.

    python -m training.recipe --data fer2013.csv.gz --out runs/recipe \
        --teachers 4 --teacher-arch vgg_wide --teacher-epochs 200 \
        --student-arch vgg --student-epochs 300 [--also-teacher models/emotion.keras]

The route the model card names for a stronger single-view model: several
teachers trained long, each with its own seed, side by side (one
`training.train` process each, so that they share one accelerator, or the
cores), and then a student trained long on their answers to each batch as it
sees it (`--teacher-online`, consistent distillation), mixed with the labels.
Each stage is a `training.train` run in its own folder of `--out`, with its log
beside it: re-running the command resumes what was interrupted, and a finished
stage only reloads. Runs on any Keras backend (KERAS_BACKEND=jax on a GPU);
export the student with `training.export` where TensorFlow is installed.
"""
import argparse
import os
import subprocess
import sys
import time


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--data", help="FER-2013 CSV (default: $FER2013_CSV)")
    parser.add_argument("--out", default="runs/recipe", help="folder of the stages' runs")
    parser.add_argument("--teachers", type=int, default=4, help="teachers trained side by side")
    parser.add_argument("--teacher-arch", default="vgg_wide")
    parser.add_argument("--teacher-epochs", type=int, default=200)
    parser.add_argument("--teacher-minutes", type=float,
                        help="fit each teacher's schedule into this much time (training.train "
                             "--minutes; --teacher-epochs is then the most)")
    parser.add_argument("--also-teacher", action="append", default=[], metavar="MODEL",
                        help="an existing .keras model that teaches too (repeatable)")
    parser.add_argument("--student-arch", default="vgg")
    parser.add_argument("--student-epochs", type=int, default=300)
    parser.add_argument("--student-minutes", type=float,
                        help="likewise for the student")
    parser.add_argument("--student-init", help="start the student from this .keras model")
    parser.add_argument("--teacher-weight", type=float, default=0.8,
                        help="share of the teachers in the student's targets")
    parser.add_argument("--batch-size", type=int, default=128)
    parser.add_argument("--lr", type=float, default=2e-3, help="peak learning rate of each run")
    parser.add_argument("--precision", default="float32",
                        help="mixed_bfloat16 on CPUs with AMX/AVX512-BF16 and on GPUs")
    parser.add_argument("--limit", type=int, help="rows of each split (quick runs)")
    parser.add_argument("--seed", type=int, default=100, help="teacher i gets seed + i")
    return parser.parse_args(argv)


def common_options(args):
    options = ["--batch-size", str(args.batch_size), "--lr", str(args.lr),
               "--precision", args.precision, "--ema", "0.999", "--mixup", "0.2"]
    options += ["--data", args.data] if args.data else []
    options += ["--limit", str(args.limit)] if args.limit else []
    return options


def teacher_command(args, index):
    return ["--arch", args.teacher_arch, "--epochs", str(args.teacher_epochs),
            "--seed", str(args.seed + index), "--label-smoothing", "0.1",
            "--out", os.path.join(args.out, f"teacher{index}"), *common_options(args),
            *minutes(args.teacher_minutes)]


def minutes(budget):
    return ["--minutes", str(budget)] if budget else []


def student_command(args, teachers):
    command = ["--arch", args.student_arch, "--epochs", str(args.student_epochs),
               "--seed", str(args.seed + 1000), "--label-smoothing", "0",
               "--teacher-online", "--teacher-weight", str(args.teacher_weight),
               "--out", os.path.join(args.out, "student"), *common_options(args),
               *minutes(args.student_minutes)]
    for teacher in teachers:
        command += ["--teacher", teacher]
    return command + (["--init", args.student_init] if args.student_init else [])


def accelerator_share(count):
    """Environment for one of `count` processes on one accelerator: JAX would
    otherwise give its first process most of the GPU's memory."""
    return {"XLA_PYTHON_CLIENT_MEM_FRACTION": f"{0.9 / max(count, 1):.3f}"}


def run_stages(name, commands, env=None):
    """`training.train` with each argument list, side by side; each logs to
    <out>.log beside its run folder. Raises naming the first that failed."""
    started = time.time()
    processes = []
    for command in commands:
        log_path = command[command.index("--out") + 1] + ".log"
        log = open(log_path, "a")
        processes.append((subprocess.Popen(
            [sys.executable, "-m", "training.train", *command], stdout=log,
            stderr=subprocess.STDOUT, env={**os.environ, **(env or {})}), log, log_path))
    failed = []
    for process, log, log_path in processes:
        if process.wait() != 0:
            failed.append(log_path)
        log.close()
    if failed:
        raise RuntimeError(f"{name}: training failed, see {', '.join(failed)}")
    print(f"{name}: {len(commands)} run(s) done in {(time.time() - started) / 60:.1f} min",
          flush=True)


def main(argv=None):
    args = parse_args(argv)
    os.makedirs(args.out, exist_ok=True)
    run_stages("teachers", [teacher_command(args, i) for i in range(args.teachers)],
               accelerator_share(args.teachers))
    teachers = [os.path.join(args.out, f"teacher{i}", "best.keras")
                for i in range(args.teachers)] + args.also_teacher
    run_stages("student", [student_command(args, teachers)])
    print(f"student: {os.path.join(args.out, 'student', 'best.keras')}; export it with "
          "python -m training.export", flush=True)


if __name__ == "__main__":
    main()
