import ArgumentParser
import Foundation
import ModelFoolTraining

/// `modelfool export`: writes a model's inference graph as ONNX, or its state dict as safetensors
/// with PyTorch's names (the format chosen by the extension of `--to`).
struct ExportCommand: ParsableCommand {
  static let configuration = CommandConfiguration(
    commandName: "export",
    abstract: "Export a model: its inference graph as ONNX (.onnx) or its state dict as safetensors (.safetensors).",
    discussion: """
      modelfool export --model runs/ft/model.h5 --to model.onnx writes the inference graph (opset 13; an imported ONNX graph keeps its own opset) with the weights, runnable by onnxruntime and importable again.

      modelfool export --model zoo:resnet18 --to resnet18.safetensors writes the state dict under PyTorch's names (BatchNorm statistics included), for load_state_dict(strict=True) into the torchvision-layout module.

      An existing file at --to is replaced atomically, only when the export succeeded.
      """)

  @OptionGroup var global: GlobalOptions

  @Option(help: ArgumentHelp("Model (\(ModelReference.argumentHelp)).", valueName: "model"))
  var model: ModelReference

  @Option(help: ArgumentHelp("File to write: FILE.onnx or FILE.safetensors.", valueName: "file"))
  var to: String

  func validate() throws {
    do { _ = try ModelExport.Format(path: to) } catch { throw ValidationError("\(error)") }
  }

  func run() throws {
    let observer = global.prepare()
    let network = try model.resolve(datasetsRoot: try global.root, log: observer.message)
    let summary = try ModelExport.export(network, to: to)
    if global.json {
      try global.printJSON(summary)
    } else {
      let size = String(format: "%.1f MB", Double(summary.bytes) / 1_000_000)
      let graph = summary.nodes.map { ", \($0) nodes, opset \(summary.opset ?? 0)" } ?? ""
      print("exported \(model) (\(summary.architecture)) as \(summary.format.rawValue): \(summary.tensors) tensors, \(summary.values) values\(graph), \(size) in \(String(format: "%.2f", summary.seconds)) s -> \(summary.path)")
    }
  }
}
