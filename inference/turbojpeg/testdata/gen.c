/* gen.c writes the JPEG fixtures of this directory with libjpeg-turbo,
 * for the layouts image/jpeg cannot encode (progressive, 4:4:4, 4:2:2,
 * RGB, CMYK, YCCK):
 *
 *	cc -o /tmp/gen gen.c -ljpeg && (cd testdata && /tmp/gen)
 *
 * Every file is the same synthetic 67×45 picture (odd sizes: partial
 * MCUs), smooth gradients with hard-edged blocks, at quality 90. */
#include <stdio.h>
#include <stdlib.h>
#include <jpeglib.h>

enum { W = 67, H = 45 };

static void pixel(int x, int y, int *r, int *g, int *b) {
	*r = x * 255 / (W - 1);
	*g = y * 255 / (H - 1);
	*b = ((x / 8 + y / 8) % 2) ? 220 : 40;
}

static void write(const char *name, J_COLOR_SPACE in, J_COLOR_SPACE out, int comps,
		int hs, int vs, int progressive) {
	struct jpeg_compress_struct c;
	struct jpeg_error_mgr e;
	FILE *f = fopen(name, "wb");
	unsigned char row[W * 4];
	JSAMPROW rp = row;
	int x, y, r, g, b;

	if (!f) { perror(name); exit(1); }
	c.err = jpeg_std_error(&e);
	jpeg_create_compress(&c);
	jpeg_stdio_dest(&c, f);
	c.image_width = W;
	c.image_height = H;
	c.input_components = comps;
	c.in_color_space = in;
	jpeg_set_defaults(&c);
	jpeg_set_colorspace(&c, out);
	jpeg_set_quality(&c, 90, TRUE);
	if (out == JCS_YCbCr) {
		c.comp_info[0].h_samp_factor = hs;
		c.comp_info[0].v_samp_factor = vs;
	}
	if (progressive) jpeg_simple_progression(&c);
	jpeg_start_compress(&c, TRUE);
	for (y = 0; y < H; y++) {
		for (x = 0; x < W; x++) {
			pixel(x, y, &r, &g, &b);
			if (comps == 1) {
				row[x] = (unsigned char)((r * 299 + g * 587 + b * 114) / 1000);
			} else if (comps == 3) {
				row[3 * x] = r; row[3 * x + 1] = g; row[3 * x + 2] = b;
			} else { /* Adobe CMYK, stored inverted: 255 − ink */
				int k = 255 - (r > g ? (r > b ? r : b) : (g > b ? g : b));
				row[4 * x] = 255 - (255 - r - k > 0 ? 255 - r - k : 0);
				row[4 * x + 1] = 255 - (255 - g - k > 0 ? 255 - g - k : 0);
				row[4 * x + 2] = 255 - (255 - b - k > 0 ? 255 - b - k : 0);
				row[4 * x + 3] = 255 - k;
			}
		}
		jpeg_write_scanlines(&c, &rp, 1);
	}
	jpeg_finish_compress(&c);
	jpeg_destroy_compress(&c);
	fclose(f);
}

int main(void) {
	write("ycbcr420_progressive.jpg", JCS_RGB, JCS_YCbCr, 3, 2, 2, 1);
	write("ycbcr444.jpg", JCS_RGB, JCS_YCbCr, 3, 1, 1, 0);
	write("ycbcr422.jpg", JCS_RGB, JCS_YCbCr, 3, 2, 1, 0);
	write("ycbcr440.jpg", JCS_RGB, JCS_YCbCr, 3, 1, 2, 0);
	write("rgb.jpg", JCS_RGB, JCS_RGB, 3, 1, 1, 0);
	write("grey_progressive.jpg", JCS_GRAYSCALE, JCS_GRAYSCALE, 1, 1, 1, 1);
	write("cmyk.jpg", JCS_CMYK, JCS_CMYK, 4, 1, 1, 0);
	write("ycck.jpg", JCS_CMYK, JCS_YCCK, 4, 1, 1, 0);
	return 0;
}
