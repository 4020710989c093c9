/// Index primitives: `gathered(flatIndices:)` and `scatterAdded(flatIndices:)` are each other's VJP.
/// Max-pooling, picking class logits and top-k selections are built on them.
extension Tensor {
  /// `out[i] = self.flat[indices[i]]`, shaped `shape`.
  public func gathered(flatIndices indices: [Int32], shape outShape: [Int]) -> Tensor {
    shapeCheck(
      indices.count == elementCount(outShape),
      "gather: \(indices.count) indices for output shape \(outShape)")
    let n = count
    let r = Tensor.build(shape: outShape) { out in
      let p = storage.pointer
      indices.withUnsafeBufferPointer { idx in
        parallelChunks(idx.count, work: idx.count) { part in
          for i in part {
            let j = Int(idx[i])
            precondition(j >= 0 && j < n, "gather: index \(j) out of range 0..<\(n)")
            out[i] = p[j]
          }
        }
      }
    }
    let inputShape = shape
    return Tensor.record("gather", r, inputs: [self]) { g in
      [g.scatterAdded(flatIndices: indices, shape: inputShape)]
    }
  }

  /// A zero tensor of `shape` with `self[i]` added at flat position `indices[i]`.
  /// Serial: indices may repeat, and the additions to one position stay in index order.
  public func scatterAdded(flatIndices indices: [Int32], shape outShape: [Int]) -> Tensor {
    shapeCheck(indices.count == count, "scatterAdd: \(indices.count) indices for \(count) values")
    let n = elementCount(outShape)
    let r = Tensor.build(shape: outShape) { out in
      out.initialize(repeating: 0, count: n)
      let p = storage.pointer
      indices.withUnsafeBufferPointer { idx in
        for i in 0..<idx.count {
          let j = Int(idx[i])
          precondition(j >= 0 && j < n, "scatterAdd: index \(j) out of range 0..<\(n)")
          out[j] += p[i]
        }
      }
    }
    let myShape = shape
    return Tensor.record("scatterAdd", r, inputs: [self]) { g in
      [g.gathered(flatIndices: indices, shape: myShape)]
    }
  }

  /// Picks one entry per row of a `[N, C]` tensor: `out[n] = self[n, indices[n]]`.
  public func gathered(rowIndices indices: [Int]) -> Tensor {
    shapeCheck(rank == 2 && indices.count == shape[0], "gather(rowIndices:): \(indices.count) indices for \(shape)")
    let c = shape[1]
    for i in indices { shapeCheck(i >= 0 && i < c, "gather(rowIndices:): class \(i) out of range 0..<\(c)") }
    return gathered(flatIndices: indices.enumerated().map { Int32($0.offset * c + $0.element) }, shape: [indices.count])
  }

  /// The examples (slices along the first axis) at `indices`, in that order; repeats allowed.
  public func selectingRows(_ indices: [Int]) -> Tensor {
    shapeCheck(rank >= 1, "selectingRows: tensor of shape \(shape) has no rows")
    let size = count / Swift.max(shape[0], 1)
    var flat: [Int32] = []
    flat.reserveCapacity(indices.count * size)
    for i in indices {
      shapeCheck(i >= 0 && i < shape[0], "selectingRows: row \(i) out of range 0..<\(shape[0])")
      for j in 0..<size { flat.append(Int32(i * size + j)) }
    }
    return gathered(flatIndices: flat, shape: [indices.count] + shape.dropFirst())
  }

  /// `[N, classes]` one-hot rows for `labels`.
  public static func oneHot(_ labels: [Int], classes: Int) -> Tensor {
    var v = [Float](repeating: 0, count: labels.count * classes)
    for (i, l) in labels.enumerated() {
      shapeCheck(l >= 0 && l < classes, "oneHot: label \(l) out of range 0..<\(classes)")
      v[i * classes + l] = 1
    }
    return Tensor(shape: [labels.count, classes], scalars: v)
  }
}
