// Readout calibration: prepare |1> on both qubits and measure.
OPENQASM 3.0;
qubit[2] q;
bit[2] c;
x q[0];
x q[1];
c = measure q;
