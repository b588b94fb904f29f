// Package devicetest holds the device tests that run inside the
// test-kernel virtual machine (test/kernel/run.sh): a real Linux kernel
// with the vivid virtual camera and a gpio-sim GPIO chip. They drive the
// agent's real V4L2 capture and GPIO LED code against those drivers, and
// unplug and replug the camera by unbinding and binding vivid's platform
// device (vivid.0) under the camera supervisor.
//
// The tests run only when FACEVERIFY_KERNEL_TEST=1 (set by the VM's init);
// anywhere else they skip. Build them statically with
//
//	CGO_ENABLED=0 go test -c -o devicetest ./test/kernel/devicetest
//
// Environment inside the VM (set by test/kernel/init):
//
//	FACEVERIFY_GPIO_SIM   configfs directory of the simulated chip (e.g. /sys/kernel/config/gpio-sim/faceverify)
//	FACEVERIFY_CONFIG     agent config whose [led] line names the chip carries
//	FACEVERIFY_LED_BLUE   name of the extra simulated line used as the blue LED
package devicetest
