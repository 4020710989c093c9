import ModelFool

// A second derivative through the engine: d/dx sum(x^3) = 3x^2 with the graph kept, whose own
// gradient is 6x; and one matrix product through BLAS. Every value is an exact small integer.
let x = Tensor([1, -2, 3]).variable()
let first = gradients(of: (x * x * x).sum(), withRespectTo: [x], createGraph: true)[0]
let second = gradients(of: first.sum(), withRespectTo: [x])[0]
let product = Tensor.matmul(Tensor(shape: [2, 2], scalars: [1, 2, 3, 4]), Tensor(shape: [2, 2], scalars: [0, 1, 1, 0]))
print("second derivative \(second.scalars.map { String(Int($0)) }.joined(separator: " ")), matmul sum \(Int(product.sum().scalar))")
