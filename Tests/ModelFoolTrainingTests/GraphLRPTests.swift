import ModelFool
import ModelFoolTraining
import TestSupport
import Testing

/// The zoo model `architecture` (3 classes, 32x32, evaluation mode) and the same network as an
/// imported graph: lowered to the ONNX description our writer produces and rebuilt as a
/// ``GraphNetwork`` holding the same weights.
private func zooAndGraph(_ architecture: String, prepare: (Model) -> Void) throws -> (zoo: Model, graph: Model) {
  let zoo = try ModelZoo.build(architecture: architecture, options: ["classes": "3", "size": "32"])
  prepare(zoo)
  zoo.setTraining(false)
  let (definition, values, _) = try ModelExport.onnxGraph(of: zoo)
  let graph = try GraphModel.model(definition, values: values)
  graph.setTraining(false)
  return (zoo, graph)
}

/// The tensor a graph's global average pooling reads (the zoo's `avgpool` input).
private func pooledTensor(_ graph: Model) throws -> String {
  let network = try #require(graph.network as? GraphNetwork)
  let pool = try #require(network.definition.nodes.last { $0.op == "GlobalAveragePool" || $0.op == "ReduceMean" })
  return pool.inputs[0]
}

/// LRP on imported graphs: the same relevance as the zoo's layer-tree pass on the same network,
/// conservation through residual joins and concatenations, and gradients to the weights.
@Suite struct GraphLRPTests {
  /// With every bias and BatchNorm shift zero and epsilon -> 0, the graph's rules (convolutions,
  /// pass-through BatchNorm, pools, the positive-part `Add` split after which a ReLU follows, the
  /// channel split of `Concat`) conserve relevance: the input relevance sums to the logit.
  @Test(arguments: ["resnet18", "densenet121"])
  func lrpConservesThroughImportedGraph(architecture: String) throws {
    let (_, graph) = try zooAndGraph(architecture) { model in
      for (name, p) in model.namedParameters() where name.hasSuffix("bias") { p.value = Tensor.zeros(p.shape) }
    }
    let (sums, logits, shape) = try lrpRelevanceSums(graph)
    #expect(shape == [2, 3, 32, 32])
    #expect(closeness(sums, logits, rtol: 1e-3, atol: 1e-5) <= 1, "\(sums.scalars) vs \(logits.scalars)")
  }

  /// An imported ResNet- and DenseNet-style graph gives the zoo model's maps (SimpleGrad,
  /// Grad-CAM at the pooled tensor, LRP with Heo's composite, with BatchNorm folded, and
  /// Dombrowski's zB-first composite whose bounds pass through the input normalisation), on
  /// BatchNorms with non-trivial statistics.
  @Test(arguments: ["resnet18", "densenet121"])
  func importedGraphGivesZooMaps(architecture: String) throws {
    let (zoo, graph) = try zooAndGraph(architecture) { randomizeBatchNorms($0, seed: 11) }
    let x = randomTensor([2, 3, 32, 32], seed: 2, low: 0, high: 1)
    let labels = [0, 2]
    var zooOptions = ExplanationOptions(), graphOptions = ExplanationOptions()
    zooOptions.layer = "avgpool"
    graphOptions.layer = try pooledTensor(graph)
    for method in [ExplanationMethod.simpleGrad, .gradCAM] {
      let a = try explain(graph, x, labels: labels, method: method, options: graphOptions)
      let b = try explain(zoo, x, labels: labels, method: method, options: zooOptions)
      #expect(relativeError(a, b) < 1e-4, "\(architecture) \(method): \(relativeError(a, b))")
    }
    for composite in [LRPComposite.heo, try LRPComposite(parsing: "heo,fold"), .dombrowski] {
      let a = try LRP.relevance(model: graph, input: x, classes: labels, composite: composite).relevance
      let b = try LRP.relevance(model: zoo, input: x, classes: labels, composite: composite).relevance
      #expect(relativeError(a, b) < 1e-4, "\(architecture) \(composite.name): \(relativeError(a, b))")
    }
  }

  /// LRP_T at a graph tensor equals the zoo's at the layer whose input it is.
  @Test func lrpTargetAtGraphTensor() throws {
    let (zoo, graph) = try zooAndGraph("resnet18") { randomizeBatchNorms($0, seed: 12) }
    let x = randomTensor([1, 3, 32, 32], seed: 3, low: 0, high: 1)
    let a = try LRP.relevance(model: graph, input: x, classes: [1], composite: .heo, stopAt: try pooledTensor(graph)).relevance
    let b = try LRP.relevance(model: zoo, input: x, classes: [1], composite: .heo, stopAt: "avgpool").relevance
    #expect(a.shape == [1, 512, 1, 1])
    #expect(relativeError(a, b) < 1e-4, "\(relativeError(a, b))")
  }

  /// The relevance is differentiable with respect to the weights through the graph as through
  /// the layer tree: the gradient of a masked LRP sum (the form of a fooling loss) with respect
  /// to the first convolution's weight agrees between the two.
  @Test func lrpWeightGradientMatchesZoo() throws {
    let (zoo, graph) = try zooAndGraph("resnet18") { randomizeBatchNorms($0, seed: 13) }
    let x = randomTensor([1, 3, 32, 32], seed: 4, low: 0, high: 1)
    let mask = randomTensor([1, 3, 32, 32], seed: 5, low: 0, high: 1)
    func gradient(_ model: Model) throws -> Tensor {
      let weight = try #require(model.namedParameters().first { $0.name == "conv1.weight" }).parameter.value
      let r = try LRP.relevance(model: model, input: x, classes: [2], composite: .heo).relevance
      return gradients(of: (r * mask).sum(), withRespectTo: [weight])[0]
    }
    let a = try gradient(graph), b = try gradient(zoo)
    #expect(b.scalars.contains { $0 != 0 })
    #expect(relativeError(a, b) < 1e-3, "\(relativeError(a, b))")
  }

  /// A node the relevance pass has no rule for is named before any run, so scoring leaves LRP
  /// out for that model instead of failing later.
  @Test func productOfTwoComputedTensorsHasNoRule() throws {
    let definition = GraphDefinition(
      inputName: "x", inputShape: [4], outputName: "y",
      parameters: [GraphParameterSpec(name: "w", shape: [3, 4], isTrainable: true)],
      constants: [:],
      nodes: [
        GraphNodeSpec(name: "square", op: "Mul", inputs: ["x", "x"], outputs: ["sq"]),
        GraphNodeSpec(name: "fc", op: "Gemm", inputs: ["sq", "w"], outputs: ["y"], attributes: ["transB": .int(1)]),
      ], opset: 13)
    let model = try GraphModel.model(definition, values: ["w": randomTensor([3, 4], seed: 6, low: -1, high: 1)])
    let network = try #require(model.network as? GraphNetwork)
    #expect(network.nodeWithoutLRPRule == "Mul node 'square'")
    #expect(!FineTuneSetup.supportsLRP(model))
    let error = #expect(throws: ExplanationError.self) {
      _ = try LRP.relevance(model: model, input: randomTensor([2, 4], seed: 7, low: 0, high: 1), classes: nil, composite: .heo)
    }
    #expect(error?.message == "lrp: no rule for Mul node 'square' (Mul of two computed tensors)")
  }
}
