//go:build turbojpeg && cgo

package turbojpeg

/*
#cgo LDFLAGS: -ljpeg
#include <stdio.h>
#include <string.h>
#include <setjmp.h>
#include <jpeglib.h>

#ifndef JCS_EXTENSIONS
#error "libjpeg-turbo is required (JCS_EXT_RGBA): install libjpeg62-turbo-dev"
#endif

enum {
	FV_OK = 0,
	FV_ERROR = 1,       // libjpeg error: corrupt or unsupported data
	FV_WARNING = 2,     // libjpeg warning: corrupt or truncated data
	FV_COMPONENTS = 3,  // not 1 (grey) or 3 (YCbCr, RGB) components
	FV_SIZE = 4,        // size differs from the caller's
};

typedef struct {
	struct jpeg_error_mgr pub;
	jmp_buf jump;
	char msg[JMSG_LENGTH_MAX];
} fv_error_mgr;

static void fv_error_exit(j_common_ptr cinfo) {
	fv_error_mgr *e = (fv_error_mgr *)cinfo->err;
	(*cinfo->err->format_message)(cinfo, e->msg);
	longjmp(e->jump, FV_ERROR);
}

// Warnings (level -1) are libjpeg's reports of corrupt data it would
// otherwise paper over (grey fill for a truncated file): stop at the first.
// Trace messages (level >= 0) are ignored, and nothing is ever printed.
static void fv_emit_message(j_common_ptr cinfo, int level) {
	if (level < 0) {
		fv_error_mgr *e = (fv_error_mgr *)cinfo->err;
		(*cinfo->err->format_message)(cinfo, e->msg);
		longjmp(e->jump, FV_WARNING);
	}
}

static void fv_output_message(j_common_ptr cinfo) { (void)cinfo; }

// fv_decode decodes the JPEG file data[0:n] into dst, w×h RGBA pixels of
// 4·w bytes a row, chroma upsampled by replication as image/jpeg does.
// On failure msg (JMSG_LENGTH_MAX bytes) holds libjpeg's message.
static int fv_decode(const unsigned char *data, unsigned long n, unsigned char *dst,
		int w, int h, char *msg) {
	struct jpeg_decompress_struct cinfo;
	fv_error_mgr err;
	int rc;

	memset(&cinfo, 0, sizeof cinfo);
	cinfo.err = jpeg_std_error(&err.pub);
	err.pub.error_exit = fv_error_exit;
	err.pub.emit_message = fv_emit_message;
	err.pub.output_message = fv_output_message;
	err.msg[0] = 0;
	if ((rc = setjmp(err.jump)) != 0) {
		memcpy(msg, err.msg, JMSG_LENGTH_MAX);
		jpeg_destroy_decompress(&cinfo);
		return rc;
	}
	jpeg_create_decompress(&cinfo);
	jpeg_mem_src(&cinfo, data, n);
	jpeg_read_header(&cinfo, TRUE);
	if (cinfo.num_components != 1 && cinfo.num_components != 3) {
		jpeg_destroy_decompress(&cinfo);
		return FV_COMPONENTS;
	}
	if (cinfo.image_width != (JDIMENSION)w || cinfo.image_height != (JDIMENSION)h) {
		jpeg_destroy_decompress(&cinfo);
		return FV_SIZE;
	}
	cinfo.out_color_space = JCS_EXT_RGBA;
	cinfo.dct_method = JDCT_ISLOW;
	cinfo.do_fancy_upsampling = FALSE;
	jpeg_start_decompress(&cinfo);
	if (cinfo.output_width != (JDIMENSION)w || cinfo.output_height != (JDIMENSION)h ||
			cinfo.output_components != 4) {
		jpeg_destroy_decompress(&cinfo);
		return FV_SIZE;
	}
	while (cinfo.output_scanline < cinfo.output_height) {
		JSAMPROW rows[16];
		JDIMENSION k, left = cinfo.output_height - cinfo.output_scanline;
		if (left > 16) left = 16;
		for (k = 0; k < left; k++)
			rows[k] = dst + (size_t)(cinfo.output_scanline + k) * (size_t)w * 4;
		jpeg_read_scanlines(&cinfo, rows, left);
	}
	jpeg_finish_decompress(&cinfo);
	jpeg_destroy_decompress(&cinfo);
	return FV_OK;
}
*/
import "C"

import (
	"errors"
	"fmt"
	"image"
	"unsafe"
)

// libVersion is the libjpeg-turbo version of the headers built against
// (LIBJPEG_TURBO_VERSION_NUMBER, e.g. 2001005 for 2.1.5).
const libVersion = C.LIBJPEG_TURBO_VERSION_NUMBER

// ErrDecode is wrapped by every error DecodeJPEG returns; the message says
// what libjpeg-turbo reported.
var ErrDecode = errors.New("libjpeg-turbo")

// Decoder is an inference.JPEGDecoder backed by libjpeg-turbo. Each call
// uses its own libjpeg decompressor, so a Decoder is safe for concurrent
// use. The zero value is ready to use.
type Decoder struct{}

// New returns the libjpeg-turbo decoder. Chroma is upsampled by
// replication (libjpeg's do_fancy_upsampling off), as image/jpeg's
// YCbCr → RGBA conversion does, so the pixels stay within a few levels of
// image/jpeg's (IDCT and colour-conversion rounding) and the decode skips
// the upsampling filter.
func New() *Decoder { return &Decoder{} }

// Name is "libjpeg-turbo" and the library version, e.g. "libjpeg-turbo 2.1.5".
func (d *Decoder) Name() string {
	return fmt.Sprintf("libjpeg-turbo %d.%d.%d", libVersion/1000000, libVersion/1000%1000, libVersion%1000)
}

// DecodeJPEG decodes data, a complete JPEG file of dst's size, into dst
// (see inference.JPEGDecoder): an RGBA image at the origin with Stride
// 4·width, every byte written, A = 255. Grey, YCbCr and RGB files,
// baseline or progressive, are decoded; CMYK and YCCK ones (four
// components, which libjpeg does not convert to RGB), a size other than
// dst's, and any error or warning libjpeg-turbo reports (corrupt or
// truncated data) return an error wrapping ErrDecode.
func (d *Decoder) DecodeJPEG(data []byte, dst *image.RGBA) error {
	w, h := dst.Rect.Dx(), dst.Rect.Dy()
	switch {
	case len(data) == 0:
		return fmt.Errorf("%w: empty file", ErrDecode)
	case dst.Rect.Min != (image.Point{}) || dst.Stride != 4*w || len(dst.Pix) < 4*w*h || w <= 0 || h <= 0:
		return fmt.Errorf("%w: destination %v stride %d is not a packed image at the origin", ErrDecode, dst.Rect, dst.Stride)
	}
	var msg [C.JMSG_LENGTH_MAX]C.char
	rc := C.fv_decode((*C.uchar)(unsafe.Pointer(&data[0])), C.ulong(len(data)),
		(*C.uchar)(unsafe.Pointer(&dst.Pix[0])), C.int(w), C.int(h), &msg[0])
	switch rc {
	case C.FV_OK:
		return nil
	case C.FV_ERROR:
		return fmt.Errorf("%w: %s", ErrDecode, C.GoString(&msg[0]))
	case C.FV_WARNING:
		return fmt.Errorf("%w: corrupt data: %s", ErrDecode, C.GoString(&msg[0]))
	case C.FV_COMPONENTS:
		return fmt.Errorf("%w: CMYK/YCCK or other component count not decoded here", ErrDecode)
	case C.FV_SIZE:
		return fmt.Errorf("%w: size differs from %dx%d", ErrDecode, w, h)
	}
	return fmt.Errorf("%w: status %d", ErrDecode, int(rc))
}
