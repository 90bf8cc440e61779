// A rotation sweep in Q#: the arguments of Sweep.Run are the program's parameters.
namespace Sweep {
    /// Ry(theta) on each of n qubits, then measures them all: all zeros at theta = 0,
    /// all ones at theta = pi.
    operation Run(n : Int, theta : Double) : Result[] {
        use qubits = Qubit[n];
        for q in qubits {
            Ry(theta, q);
        }
        MResetEachZ(qubits)
    }

    /// A GHZ state on as many qubits as bases, each measured in its basis.
    operation Ghz(bases : Pauli[]) : Result[] {
        use qubits = Qubit[Length(bases)];
        H(qubits[0]);
        for q in qubits[1...] {
            CNOT(qubits[0], q);
        }
        mutable results = [];
        for i in 0..Length(bases) - 1 {
            set results += [Measure([bases[i]], [qubits[i]])];
        }
        ResetAll(qubits);
        results
    }
}
