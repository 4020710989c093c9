/// Implementation note: LRP through an imported graph (``GraphNetwork``). The forward pass is the
/// graph's own, with every float tensor recorded through its marker layer; the relevance pass
/// then visits the nodes in reverse execution order, keeping one relevance tensor per float
/// tensor (a tensor read by several nodes sums the relevance they send back, the fan-out rule).
/// A tensor's relevance is complete once every node reading it has been visited, so LRP_T stops
/// there. Rules by operator kind, the same as the zoo layers' (``LRP``):
///
/// - `Conv`, `Gemm` and `MatMul` with a weight that does not depend on the input: the composite's
///   rule for ``LRPLayerKind/convolution`` or ``LRPLayerKind/dense`` (``LRPLayerKind/first`` for
///   the first of them in execution order; zB's bounds pushed through the nodes before it). With
///   the ``LRPCanonizer/foldBatchNorm`` canonizer, a `BatchNormalization` that is the only reader
///   of a `Conv` or `Gemm` output is folded into it.
/// - Elementwise activations, `Identity`, `Dropout`, `Softmax`, `Cast`, an unfolded
///   `BatchNormalization`, and `Add`/`Sub`/`Mul`/`Div` with one computed operand (an affine map
///   by constants, e.g. input normalisation): relevance passes unchanged.
/// - `Add` of two computed tensors (a residual join): split by positive parts,
///   `a+ / (a+ + b+ + 1e-12)` and `b+ / (...)`, as the zoo's ``Residual``.
/// - `Concat`, `Flatten`, `Reshape`, `Squeeze`, `Unsqueeze`, `Transpose`, `Slice`, `Pad`: the
///   relevance moves with the values (the transpose of the linear map; a `Concat` splits it by
///   position, a `Pad` drops what lands on the padding).
/// - `MaxPool`: each window's relevance to its winner; `AveragePool`: the z-rule;
///   `GlobalAveragePool` and `ReduceMean`: `x * R / (out * count + 1e-8)` as the zoo's
///   ``GlobalAvgPool2D``.
/// Any other node on the relevance path (a product of two computed tensors, `Sub` of two, ...) is
/// a one-line error naming it.

extension LRPPass {
  /// Relevance at the input of graph `g` from the relevance `r` at its output.
  func graph(_ g: GraphNetwork, _ r: Tensor) throws -> Tensor {
    let def = g.definition
    let x0 = try graphTensor(def.inputName)
    let shapes = try g.shapeValues(batch: x0.shape[0])
    let parameters = Dictionary(uniqueKeysWithValues: g.parameterList.map { ($0.name, $0.parameter.value) })
    let computed = g.computedTensors()
    var readers: [String: Int] = [:]
    for step in g.steps { for name in Set(step.node.inputs) where !name.isEmpty { readers[name, default: 0] += 1 } }

    /// The value feeding a node: a recorded float tensor, a parameter, a constant, or an integer
    /// tensor from the shape pass.
    func value(_ name: String) -> GraphValue? {
      guard !name.isEmpty else { return nil }
      if computed.contains(name), let t = tap.inputs[name] { return .tensor(t) }
      if let p = parameters[name] { return .tensor(p) }
      if let c = def.constants[name] { return GraphNetwork.constantValue(c, running: true) }
      if case .ints(let t)? = shapes[name] { return .ints(t) }
      return tap.inputs[name].map { .tensor($0) }
    }

    var relevance: [String: Tensor] = [def.outputName: r]
    func send(_ name: String, _ rel: Tensor) {
      relevance[name] = relevance[name].map { $0 + rel } ?? rel
    }
    /// BatchNorm affine maps to fold into the node producing the keyed tensor.
    var folds: [String: (scale: Tensor, shift: Tensor)] = [:]

    for step in g.steps.reversed() {
      let node = step.node
      guard let out = node.outputs.first, !out.isEmpty, let rOut = relevance.removeValue(forKey: out) else { continue }
      mark(out, rOut)
      if done { return rOut }
      let dataInputs = node.inputs.indices.filter { computed.contains(node.inputs[$0]) }
      guard !dataInputs.isEmpty else { continue }
      let inputs = node.inputs.map(value)
      func tensor(_ i: Int) throws -> Tensor {
        guard i < inputs.count, case .tensor(let t)? = inputs[i] else {
          throw ExplanationError("lrp: \(node.label): input \(i) is not a float tensor")
        }
        return t
      }
      func noRule(_ why: String) -> ExplanationError {
        ExplanationError("lrp: no rule for \(node.label) (\(why))")
      }

      switch step.op {
      case .conv(let window, let groups):
        guard dataInputs == [0] else { throw noRule("its weight is computed from the input") }
        let x = try tensor(0), w0 = try tensor(1)
        let (w, b) = LRPLinearMap.folded(w0, inputs.count > 2 ? try tensor(2) : nil, folds[out])
        let geometry: ConvGeometry
        do { geometry = try window.geometry(h: x.shape[2], w: x.shape[3], kernel: (w.shape[2], w.shape[3]), node.label) } catch let e as GraphError {
          throw ExplanationError("lrp: \(e.message)")
        }
        let m = LRPLinearMap(convolutionInput: x, weight: w, bias: b, geometry: geometry, groups: groups)
        send(node.inputs[0], try weighted(m, out, rOut, graph: g))

      case .gemm(let alpha, let beta, let transposeA, let transposeB):
        guard dataInputs == [0], !transposeA else { throw noRule("only A x B + C with a constant B is explained") }
        let b0 = try tensor(1)
        var w = (transposeB ? b0 : b0.transposed()) * alpha
        var bias = inputs.count > 2 ? try tensor(2) * beta : nil
        if let b = bias, b.count != w.shape[0] { throw noRule("its C input is not one value per output") }
        bias = bias?.reshaped([w.shape[0]])
        (w, bias) = LRPLinearMap.folded(w, bias, folds[out])
        send(node.inputs[0], try weighted(LRPLinearMap(denseInput: try tensor(0), weight: w, bias: bias), out, rOut, graph: g))

      case .matMul:
        let x = try tensor(0), b0 = try tensor(1)
        guard dataInputs == [0], x.rank == 2, b0.rank == 2 else { throw noRule("only a 2-D input times a constant matrix is explained") }
        send(node.inputs[0], try weighted(LRPLinearMap(denseInput: x, weight: b0.transposed(), bias: nil), out, rOut, graph: g))

      case .batchNorm(let epsilon):
        let scale = try tensor(1) / (try tensor(4) + epsilon).sqrt()
        let shift = try tensor(2) - (try tensor(3)) * scale
        let source = node.inputs[0]
        if composite.canonizers.contains(.foldBatchNorm), source != stopAt, readers[source] == 1,
          let producer = g.steps.first(where: { $0.node.outputs.first == source }),
          producer.op.isFoldableIntoBatchNorm
        {
          folds[source] = (scale, shift)
        }
        send(source, rOut)

      case .relu, .leakyRelu, .sigmoid, .tanh, .hardSigmoid, .hardSwish, .clip, .identity, .softmax, .cast:
        send(node.inputs[dataInputs[0]], rOut)

      case .binary(let kind):
        if dataInputs.count == 1 {
          let i = dataInputs[0]
          guard try tensor(i).shape == rOut.shape else { throw noRule("its computed operand is broadcast") }
          send(node.inputs[i], rOut)
        } else {
          guard kind == .add else { throw noRule("\(kind.rawValue) of two computed tensors") }
          let a = try tensor(0), b = try tensor(1)
          guard a.shape == b.shape else { throw noRule("a broadcast sum of two computed tensors") }
          let ap = a.relu(), bp = b.relu()
          let den = ap + bp + 1e-12
          send(node.inputs[0], rOut * ap / den)
          send(node.inputs[1], rOut * bp / den)
        }

      case .maxPool(let window):
        let x = try tensor(0)
        let geometry = try window.geometry(h: x.shape[2], w: x.shape[3], kernel: window.kernel!, node.label)
        let (idx, _) = x.maxPoolIndices(geometry: geometry)
        send(node.inputs[0], rOut.scatterAdded(flatIndices: idx, shape: x.shape))

      case .averagePool:
        let x = try tensor(0), y = try graphTensor(out)
        send(node.inputs[0], x * (try transpose(step, inputs, dataInputs, seed: rOut / stabilized(y, 1e-8))[0]))

      case .globalAveragePool, .reduceMean:
        let x = try tensor(0), y = try graphTensor(out)
        let count = Float(x.count / Swift.max(y.count, 1))
        send(node.inputs[0], x * (try transpose(step, inputs, dataInputs, seed: rOut / (y + 1e-8 / count))[0]))

      case .concat, .flatten, .reshape, .squeeze, .unsqueeze, .transpose, .slice, .pad:
        for (i, rel) in zip(dataInputs, try transpose(step, inputs, dataInputs, seed: rOut)) { send(node.inputs[i], rel) }

      case .constant, .shape, .gather, .constantOfShape:
        throw noRule("a float tensor computed from the input reaches it")
      }
    }
    guard let rIn = relevance[def.inputName] else {
      throw ExplanationError("lrp: no relevance reaches the graph's input '\(def.inputName)'")
    }
    return rIn
  }

  /// A recorded float tensor of the forward pass.
  private func graphTensor(_ name: String) throws -> Tensor {
    guard let t = tap.inputs[name] else { throw ExplanationError("lrp: tensor '\(name)' was not recorded in the forward pass") }
    return t
  }

  /// The transpose of a node that is linear in its computed inputs (`dataInputs`), applied to
  /// `seed`: one tensor per computed input (a vector-Jacobian product at zero probes, exact
  /// because the map is linear; kept differentiable when the pass records gradients).
  private func transpose(_ step: GraphNetwork.Step, _ inputs: [GraphValue?], _ dataInputs: [Int], seed: Tensor) throws -> [Tensor] {
    let keep = GradientRecording.isEnabled
    return try GradientRecording.$isEnabled.withValue(true) { () -> [Tensor] in
      var values = inputs
      var probes: [Tensor] = []
      for i in dataInputs {
        guard case .tensor(let t)? = inputs[i] else { throw ExplanationError("lrp: \(step.node.label): input \(i) is not a float tensor") }
        let probe = Tensor.zeros(t.shape).variable()
        probes.append(probe)
        values[i] = .tensor(probe)
      }
      let result: GraphValue
      do {
        result = try step.op.evaluate(NodeInputs(values: values, label: step.node.label), running: true, constant: step.constant)
      } catch let e as GraphError { throw ExplanationError("lrp: \(e.message)") }
      guard case .tensor(let y) = result else { throw ExplanationError("lrp: \(step.node.label) gives no float tensor") }
      return gradients(of: y, withRespectTo: probes, seed: seed, createGraph: keep)
    }
  }

  /// zB's bounds at the input of the first weighted node of `g`: the graph's nodes before it
  /// evaluated on inputs filled with the bound (input normalisation by constants, typically).
  func graphBound(_ g: GraphNetwork, _ v: Float, like x: Tensor) throws -> Tensor {
    guard let first = firstWeighted else { return Tensor(repeating: v, shape: x.shape) }
    let def = g.definition
    let batch = x.shape[0]
    let shapes = try g.shapeValues(batch: batch)
    let parameters = Dictionary(uniqueKeysWithValues: g.parameterList.map { ($0.name, $0.parameter.value) })
    var values: [String: GraphValue] = [def.inputName: .tensor(Tensor(repeating: v, shape: [batch] + def.inputShape))]
    for step in g.steps {
      guard step.node.outputs.first != first else { break }
      switch step.op {
      case .binary, .identity, .cast, .constant: break
      default: continue
      }
      var inputs: [GraphValue?] = []
      var complete = true
      for name in step.node.inputs {
        if name.isEmpty {
          inputs.append(nil)
        } else if let value = values[name] ?? parameters[name].map({ .tensor($0) })
          ?? def.constants[name].map({ GraphNetwork.constantValue($0, running: true) })
        {
          inputs.append(value)
        } else if case .ints(let t)? = shapes[name] {
          inputs.append(.ints(t))
        } else {
          complete = false
        }
      }
      guard complete, let out = step.node.outputs.first, !out.isEmpty,
        let result = try? step.op.evaluate(NodeInputs(values: inputs, label: step.node.label), running: true, constant: step.constant)
      else { continue }
      values[out] = result
    }
    let source = g.steps.first { $0.node.outputs.first == first }!.node.inputs[0]
    guard case .tensor(let b)? = values[source], b.shape == x.shape else {
      throw ExplanationError("lrp: zB bounds cannot be pushed through the nodes before '\(first)' (only constant affine maps are)")
    }
    return b
  }
}

extension GraphOperator {
  /// Whether a BatchNormalization reading this node's output can be folded into it for LRP.
  var isFoldableIntoBatchNorm: Bool {
    switch self {
    case .conv: true
    case .gemm(_, _, let transposeA, _): !transposeA
    default: false
    }
  }
}

extension GraphNetwork {
  /// The first node LRP has no rule for, by the operators and which of their inputs are computed
  /// from the input (shapes are checked when the pass runs); nil when every node has one.
  public var nodeWithoutLRPRule: String? {
    let computed = computedTensors()
    for step in steps {
      let data = step.node.inputs.indices.filter { computed.contains(step.node.inputs[$0]) }
      guard !data.isEmpty else { continue }
      switch step.op {
      case .conv, .matMul: if data != [0] { return step.node.label }
      case .gemm(_, _, let transposeA, _): if data != [0] || transposeA { return step.node.label }
      case .binary(let kind): if data.count > 1 && kind != .add { return step.node.label }
      case .constant, .shape, .gather, .constantOfShape: break
      default: break
      }
    }
    return nil
  }

  /// The float tensors that depend on the input (the input and every output of a node reading
  /// one of them), which carry relevance; parameters, constants and tensors computed from them
  /// alone do not.
  func computedTensors() -> Set<String> {
    var set: Set<String> = [definition.inputName]
    for step in steps where step.node.inputs.contains(where: set.contains) {
      if case .shape = step.op { continue }
      for out in step.node.outputs where !out.isEmpty { set.insert(out) }
    }
    return set
  }
}
