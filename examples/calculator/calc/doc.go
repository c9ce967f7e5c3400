// Package calc is the calculator service the warren examples share: the
// endpoint with its methods divide, add and whoami.
//
// The programs in examples/calculator/server and examples/calculator/client
// serve and call it, and the warren command's demo runs three replicas of
// it. The methods take keyword arguments as a Python oslo.messaging caller
// sends them:
//
//	divide(num1, num2=1)  num1 / num2 as a float; num2 == 0 fails with InvalidOperation
//	add(a, b)             a + b
//	whoami()              the name of the server that answered (when ServerName is given)
package calc
