import Foundation

/// Imported graphs in the zoo: architecture `onnx-graph` rebuilds a ``GraphNetwork`` from its
/// ``GraphDefinition``, stored as JSON in the `graph` option (so a checkpoint's `config` holds the
/// graph and its datasets hold the weights, as for every other architecture).
public enum GraphModel {
  /// The architecture name of imported graphs.
  public static let architecture = "onnx-graph"

  /// A model around `definition` with parameter `values` (absent ones start at zero). The input
  /// shape is the graph's; the default explained layer is the last convolution's output tensor
  /// (its marker layer's input), or the input when there is none.
  ///
  /// - Throws: ``GraphError`` when the graph does not check.
  public static func model(
    _ definition: GraphDefinition, values: [String: Tensor] = [:], classNames: [String] = [], preprocessing: String = ""
  ) throws -> Model {
    let network = try GraphNetwork(definition: definition, values: values)
    let encoder = JSONEncoder()
    encoder.outputFormatting = .sortedKeys
    let json = String(decoding: try encoder.encode(definition), as: UTF8.self)
    return Model(
      network: network, architecture: architecture, config: ["graph": json], inputShape: definition.inputShape,
      classNames: classNames, preprocessing: preprocessing,
      targetLayer: network.lastConvolutionOutput ?? definition.inputName)
  }

  /// The zoo builder: option `graph` (the definition as JSON).
  static func build(_ options: inout ModelOptions) throws -> Model {
    let json = try options.string("graph")
    let definition: GraphDefinition
    do { definition = try JSONDecoder().decode(GraphDefinition.self, from: Data(json.utf8)) } catch {
      throw LayerError("\(architecture): option graph is not a graph description (\(String(describing: error).prefix(120)))")
    }
    do { return try model(definition) } catch let error as GraphError { throw LayerError("\(architecture): \(error.message)") }
  }
}
