import Foundation
import ModelFool
import ModelFoolData
import ModelFoolVersionInfo

/// Models out of ModelFool: the inference graph as an ONNX file, or the state dict as a
/// safetensors file with PyTorch's names.
///
/// - ONNX: a zoo network is lowered layer by layer (``GraphExportable``, opset
///   ``GraphBuilder/opset`` = 13) with its parameters as initializers under their state-dict names,
///   input `input` `[N] + inputShape`, output `logits` `[N, classes]`; an imported graph
///   (`onnx-graph`) is written back as it was read, at its own opset, with its current (perhaps
///   fine-tuned) weights. The file's metadata carries the preprocessing and the class names, so
///   importing it again gives the same model.
/// - safetensors: every parameter and buffer under the name ``WeightImport/stateDict(of:)`` gives
///   it (the one mapping import uses too), Float32, BatchNorm's `num_batches_tracked` as int64,
///   so `load_state_dict(strict=True)` takes it into the torchvision-layout module.
///
/// Files are written atomically (``AtomicFile``): a failed export leaves any existing file as it was.
public enum ModelExport {
  /// A file format a model can be exported to, chosen by the file's extension.
  public enum Format: String, Codable, Sendable, CaseIterable {
    /// `.onnx`: the inference graph with its weights.
    case onnx
    /// `.safetensors`: the state dict.
    case safetensors

    /// The format of `path` by its extension.
    ///
    /// - Throws: a one-line ``DataError`` (setting `to`) for another extension.
    public init(path: String) throws {
      let ext = (path as NSString).pathExtension.lowercased()
      guard let format = Format(rawValue: ext) else {
        throw DataError(
          "cannot export to \(path): unknown extension '\(ext.isEmpty ? "(none)" : "." + ext)' (known: .onnx, .safetensors)",
          settings: ["to"])
      }
      self = format
    }
  }

  /// What an export did.
  public struct Summary: Codable, Sendable {
    /// The model's architecture (`resnet50`, `onnx-graph`, ...).
    public var architecture: String
    /// The format written.
    public var format: Format
    /// The file written.
    public var path: String
    /// Its size in bytes.
    public var bytes: Int
    /// Tensors written (initializers, or state-dict entries).
    public var tensors: Int
    /// Scalar values in those tensors.
    public var values: Int
    /// Graph nodes (ONNX only).
    public var nodes: Int?
    /// The default-domain opset (ONNX only).
    public var opset: Int?
    /// Seconds spent lowering, serialising and writing.
    public var seconds: Double
  }

  /// The name of the graph's input tensor.
  public static let inputName = "input"
  /// The name of the graph's output tensor (zoo models).
  public static let outputName = "logits"

  /// Writes `model` to `path` in the format its extension names.
  ///
  /// - Throws: ``DataError`` for an unknown extension or an unwritable path; ``LayerError`` naming
  ///   a layer that has no ONNX mapping; ``ONNXError`` for a model beyond ONNX's 2 GiB.
  public static func export(_ model: Model, to path: String) throws -> Summary {
    let format = try Format(path: path)
    let start = Date()
    try AtomicFile.createFolder((path as NSString).deletingLastPathComponent)
    var summary: Summary
    switch format {
    case .onnx:
      let graph = try onnxGraph(of: model)
      let bytes = try ONNXWriter.write(
        graph.definition, values: graph.values, outputCount: graph.outputCount, metadata: onnxMetadata(model),
        producer: ("modelfool", ModelFoolVersion.description), to: path)
      summary = Summary(
        architecture: model.architecture, format: format, path: path, bytes: bytes,
        tensors: graph.definition.parameters.count + graph.definition.constants.count,
        values: graph.values.values.reduce(0) { $0 + $1.count }, nodes: graph.definition.nodes.count,
        opset: graph.definition.opset, seconds: 0)
    case .safetensors:
      let entries = stateDictEntries(of: model)
      let bytes = try SafeTensorsFile.write(entries, metadata: safetensorsMetadata(model), to: path)
      summary = Summary(
        architecture: model.architecture, format: format, path: path, bytes: bytes, tensors: entries.count,
        values: entries.reduce(0) { $0 + $1.values.count }, nodes: nil, opset: nil, seconds: 0)
    }
    summary.seconds = Date().timeIntervalSince(start)
    return summary
  }

  /// The inference graph of `model`: its description, the parameters' values by name and the
  /// number of logits.
  ///
  /// - Throws: ``LayerError`` naming the first layer without an ONNX mapping (or an imported
  ///   graph whose activations were switched away from ReLU).
  public static func onnxGraph(of model: Model) throws -> (definition: GraphDefinition, values: [String: Tensor], outputCount: Int) {
    if let network = model.network as? GraphNetwork {
      for child in network.children {
        if let a = child.layer as? ActivationLayer, a.activation != .relu {
          throw LayerError("cannot export layer '\(child.name)': its activation is \(a.activation), the graph's node is a Relu (export the model with its built activations)")
        }
      }
      let values = Dictionary(uniqueKeysWithValues: network.localParameters.map { ($0.name, $0.parameter.value) })
      return (network.definition, values, network.outputCount)
    }
    var builder = GraphBuilder(inputName: inputName)
    let output = try builder.lower(model, name: "", GraphTensor(name: inputName, shape: model.inputShape))
    guard output.shape.count == 1 else {
      throw LayerError("cannot export \(model.architecture): its output has shape [N] + \(output.shape), not the logits [N, classes]")
    }
    let name = builder.finish(output, as: outputName)
    let definition = GraphDefinition(
      inputName: inputName, inputShape: model.inputShape, outputName: name, parameters: builder.parameters, constants: [:],
      nodes: builder.nodes, opset: GraphBuilder.opset)
    return (definition, builder.values, output.shape[0])
  }

  /// The state dict of `model` as safetensors entries, in state-dict order: Float32, except
  /// BatchNorm's scalar `num_batches_tracked`, which PyTorch keeps as int64.
  public static func stateDictEntries(of model: Model) -> [SafeTensorsFile.Entry] {
    WeightImport.stateDict(of: model).map { name, p in
      let counter = name.hasSuffix("num_batches_tracked") && p.shape.isEmpty
      return SafeTensorsFile.Entry(name: name, shape: p.shape, values: p.value.scalars, type: counter ? .int64 : .float32)
    }
  }

  /// The ONNX file's metadata: architecture, preprocessing and class names (read back by
  /// ``WeightImport/loadONNX(_:classNames:preprocessing:)``).
  static func onnxMetadata(_ model: Model) -> [String: String] {
    var metadata = ["modelfool.architecture": model.architecture, WeightImport.onnxPreprocessingKey: model.preprocessing]
    if !model.classNames.isEmpty, let data = try? JSONEncoder().encode(model.classNames) {
      metadata[WeightImport.onnxClassNamesKey] = String(decoding: data, as: UTF8.self)
    }
    return metadata
  }

  /// The safetensors file's metadata: `format: pt` (what PyTorch's loaders expect), the
  /// architecture and, for a zoo model, its builder options.
  static func safetensorsMetadata(_ model: Model) -> [String: String] {
    var metadata = ["format": "pt", "modelfool.architecture": model.architecture]
    if model.architecture != GraphModel.architecture {
      let encoder = JSONEncoder()
      encoder.outputFormatting = .sortedKeys
      if let data = try? encoder.encode(model.config) { metadata["modelfool.config"] = String(decoding: data, as: UTF8.self) }
    }
    return metadata
  }
}
