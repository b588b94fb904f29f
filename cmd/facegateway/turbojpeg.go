//go:build turbojpeg && cgo

package main

import "github.com/faceverify/faceverify/inference/turbojpeg"

func init() { fastJPEG = turbojpeg.New() }
