// A Rabi-style scan: rotate by theta about Y, then about X by phi, and measure.
OPENQASM 3.0;
input float theta;
input float phi;
qubit q;
bit c;
ry(theta) q;
rx(phi) q;
c = measure q;
