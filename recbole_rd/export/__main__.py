"""``python -m recbole_rd.export saved/<checkpoint>.pth --format=onnx [--output=DIR] [--topk=10]``."""

import argparse

from recbole_rd.quick_start.cli import command_errors


def main(argv=None):
    parser = argparse.ArgumentParser(prog="python -m recbole_rd.export",
                                     description="Export a trained model as a top-k scorer that needs only "
                                                 "onnxruntime (onnx) or torch (torchscript).")
    parser.add_argument("checkpoint", help="a checkpoint recbole_rd wrote (saved/<model>-...pth)")
    parser.add_argument("--format", default="onnx", choices=["onnx", "torchscript"])
    parser.add_argument("--output", default=None, help="the folder to write (default: <checkpoint>-<format>)")
    parser.add_argument("--topk", type=int, default=10, help="length of the lists (default 10)")
    parser.add_argument("--data_path", default=None, help="where the training data is now, if it moved")
    args = parser.parse_args(argv)
    with command_errors():
        from recbole_rd.export import export_model

        folder = export_model(args.checkpoint, args.output, args.format, args.topk,
                              {"data_path": args.data_path} if args.data_path else None)
        print(f"exported to {folder}")


if __name__ == "__main__":
    main()
