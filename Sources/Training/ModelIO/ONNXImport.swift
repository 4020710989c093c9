import Foundation
import ModelFool
import ModelFoolData

/// ONNX models as ModelFool models: read with ``ONNXReader``, built as a ``GraphNetwork`` (zoo
/// architecture `onnx-graph`), saved as an ordinary checkpoint whose `config` holds the graph and
/// whose datasets hold the float initializers under their ONNX names.
extension WeightImport {
  /// The metadata key of an ONNX file whose value, when present, is the model's preprocessing
  /// string (see ``ModelInputs/imagePreprocessing(for:)``).
  public static let onnxPreprocessingKey = "modelfool.preprocessing"
  /// The metadata key of an ONNX file whose value, when present, is the model's class names as a
  /// JSON list of strings in logit order (written by ``ModelExport``).
  public static let onnxClassNamesKey = "modelfool.class_names"

  /// Whether `path` names an ONNX file (by its extension).
  public static func isONNX(_ path: String) -> Bool { path.lowercased().hasSuffix(".onnx") }

  /// The model of the ONNX file at `path`. Preprocessing: `preprocessing` when given, else the
  /// file's `modelfool.preprocessing` metadata, else `scale=1/255` for image inputs (pixels in
  /// [0, 1], any normalisation being inside the graph) and nothing for feature vectors. Class
  /// names: `classNames` when given, else the file's `modelfool.class_names` metadata, if any.
  ///
  /// - Throws: ``ONNXError`` for a refused file; ``DataError`` for class names that do not match
  ///   the outputs or a preprocessing string that does not parse.
  public static func loadONNX(_ path: String, classNames: [String]? = nil, preprocessing: String? = nil) throws -> Model {
    let imported = try ONNXReader.read(path)
    let steps = preprocessing ?? imported.metadata[onnxPreprocessingKey]
      ?? (imported.definition.inputShape.count == 3 ? "scale=1/255" : "")
    let model = try ONNXReader.model(imported, source: path, preprocessing: steps)
    _ = try ModelInputs.imagePreprocessing(for: model)
    var names = classNames
    if names == nil, let text = imported.metadata[onnxClassNamesKey] {
      guard let list = try? JSONDecoder().decode([String].self, from: Data(text.utf8)) else {
        throw DataError("\(path): metadata \(onnxClassNamesKey) is not a JSON list of strings", settings: ["model"])
      }
      names = list
    }
    if let classNames = names {
      let outputs = (model.network as? GraphNetwork)?.outputCount ?? 0
      guard classNames.count == outputs else {
        throw DataError("\(classNames.count) class names for the \(outputs) outputs of \(path)", settings: ["classNames"])
      }
      model.classNames = classNames
    }
    return model
  }

  /// Imports the ONNX model at `path` into a checkpoint at `output` (see ``loadONNX(_:classNames:preprocessing:)``).
  public static func importONNX(
    from path: String, classNames: [String]? = nil, preprocessing: String? = nil, output: String, log: (String) -> Void = { _ in }
  ) throws -> Summary {
    log("reading \(path)")
    let model = try loadONNX(path, classNames: classNames, preprocessing: preprocessing)
    let folder = (output as NSString).deletingLastPathComponent
    if !folder.isEmpty { try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true) }
    let parameters = model.namedParameters()
    try Checkpoint.save(
      model, to: output, metadata: ["source": path, "source_format": "onnx", "imported_tensors": String(parameters.count)])
    return Summary(
      name: GraphModel.architecture, weights: path, checkpoint: output, tensors: parameters.count,
      parameters: parameters.reduce(0) { $0 + $1.parameter.count }, format: "onnx")
  }
}

