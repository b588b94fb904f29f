package conf

import (
	"fmt"
	"math"
	"reflect"
	"strconv"
	"strings"
	"time"
)

// FieldError is an invalid setting: the dotted field and what is wrong
// with it, value included ("must be in [1,20], got 0"). Check and Errorf
// return it; errors.As finds the field.
type FieldError struct {
	Field string
	Msg   string
}

func (e *FieldError) Error() string { return e.Field + ": " + e.Msg }

// Errorf returns a *FieldError for field with a message formatted as by
// fmt.Sprintf, for the rules written as code beside Check.
func Errorf(field, format string, args ...any) error {
	return &FieldError{Field: field, Msg: fmt.Sprintf(format, args...)}
}

// Check enforces the limits declared in the struct tags of v (a struct or
// a pointer to one) and returns the first violation, in field order, as a
// *FieldError; nil if every field keeps its limits. prefix, when not
// empty, is put before every key with a dot ("inference" checks
// inference.Config as the [inference] table).
//
// Tags, on the same field as its toml tag:
//
//	min:"5s"          value ≥ bound ("must be ≥ 5s, got 0s")
//	gt:"0"            value > bound
//	max:"1h"          value ≤ bound; with min or gt: "must be in [1s,1h], got 2h"
//	unit:"pixels"     unit named after the bounds ("must be in [112,4096] pixels")
//	off:"true"        the zero value is allowed besides the range ("must be 0s (off) or in [1s,1h]")
//	oneof:"a|b"       a string among the choices ("must be \"a\" or \"b\", got \"c\"")
//	case:"fold"       oneof compares case-insensitively
//	nonempty:"true"   a string (blanks trimmed) or a slice that is not empty ("must not be empty")
//	rule:"..."        the message of a failed nonempty or oneof, replacing the default
//	when:"k=v"        the field's limits apply only while the setting k
//	                  (a dotted key from the top) reads v; when:"k" for a
//	                  boolean that is true
//
// Bounds are written in the field's unit: a Go duration for
// time.Duration, a number for ints and floats. A float that is NaN or
// infinite fails every bound. A malformed tag panics: it is a programming
// error found by the owner's first test.
func Check(v any, prefix string) error {
	if prefix != "" {
		prefix += "."
	}
	values := map[string]reflect.Value{}
	var fields []Field
	Walk(v, func(f Field) bool {
		f.Key = prefix + f.Key
		values[f.Key] = f.Value
		fields = append(fields, f)
		return true
	})
	for _, f := range fields {
		if w := f.Tag.Get("when"); w != "" && !holds(w, prefix, values) {
			continue
		}
		if err := checkField(f); err != nil {
			return err
		}
	}
	return nil
}

// holds evaluates a when tag against the collected values.
func holds(cond, prefix string, values map[string]reflect.Value) bool {
	key, want, hasWant := strings.Cut(cond, "=")
	v, ok := values[prefix+key]
	if !ok {
		v, ok = values[key]
	}
	if !ok {
		panic("conf: when names an unknown setting " + key)
	}
	if !hasWant {
		return v.Kind() == reflect.Bool && v.Bool()
	}
	return fmt.Sprint(v.Interface()) == want
}

func checkField(f Field) error {
	tag := f.Tag
	if tag.Get("nonempty") == "true" {
		empty := false
		switch f.Value.Kind() {
		case reflect.String:
			empty = strings.TrimSpace(f.Value.String()) == ""
		case reflect.Slice, reflect.Map:
			empty = f.Value.Len() == 0
		}
		if empty {
			return &FieldError{f.Key, ruleOr(tag, "must not be empty")}
		}
	}
	if choices := tag.Get("oneof"); choices != "" {
		s := f.Value.String()
		for _, c := range strings.Split(choices, "|") {
			if c == s || tag.Get("case") == "fold" && strings.EqualFold(c, s) {
				return nil
			}
		}
		return &FieldError{f.Key, fmt.Sprintf("%s, got %q", ruleOr(tag, "must be "+orList(strings.Split(choices, "|"))), s)}
	}
	lo, gt, hi := tag.Get("min"), tag.Get("gt"), tag.Get("max")
	if lo == "" && gt == "" && hi == "" {
		return nil
	}
	val, shown, finite := number(f)
	if tag.Get("off") == "true" && finite && val == 0 {
		return nil
	}
	ok := finite
	if lo != "" && val < bound(f, lo) || gt != "" && val <= bound(f, gt) || hi != "" && val > bound(f, hi) {
		ok = false
	}
	if ok {
		return nil
	}
	var rule string
	switch {
	case (lo != "" || gt != "") && hi != "":
		open, low := "[", lo
		if gt != "" {
			open, low = "(", gt
		}
		rule = fmt.Sprintf("in %s%s,%s]", open, low, hi)
	case lo != "":
		rule = "≥ " + lo
	case gt != "":
		rule = "> " + gt
	default:
		rule = "≤ " + hi
	}
	if u := tag.Get("unit"); u != "" {
		rule += " " + u
	}
	if tag.Get("off") == "true" {
		zero := "0"
		if f.Type == durationType {
			zero = "0s"
		}
		rule = zero + " (off) or " + rule
	}
	return &FieldError{f.Key, fmt.Sprintf("must be %s, got %s", rule, shown)}
}

func ruleOr(tag reflect.StructTag, def string) string {
	if r := tag.Get("rule"); r != "" {
		return r
	}
	return def
}

// orList quotes choices and joins them: "a", "b" or "c".
func orList(choices []string) string {
	q := make([]string, len(choices))
	for i, c := range choices {
		q[i] = strconv.Quote(c)
	}
	if len(q) == 1 {
		return q[0]
	}
	return strings.Join(q[:len(q)-1], ", ") + " or " + q[len(q)-1]
}

// number returns the field's value as a float64, as shown in messages,
// and whether it is finite.
func number(f Field) (float64, string, bool) {
	v := f.Value
	switch {
	case f.Type == durationType:
		return float64(v.Int()), time.Duration(v.Int()).String(), true
	case v.CanInt():
		return float64(v.Int()), strconv.FormatInt(v.Int(), 10), true
	case v.CanUint():
		return float64(v.Uint()), strconv.FormatUint(v.Uint(), 10), true
	case v.CanFloat():
		x := v.Float()
		return x, fmt.Sprint(x), !math.IsNaN(x) && !math.IsInf(x, 0)
	}
	panic("conf: limits on a non-numeric setting " + f.Key)
}

// bound parses a tag bound in the field's unit.
func bound(f Field, s string) float64 {
	if f.Type == durationType {
		d, err := time.ParseDuration(s)
		if err != nil {
			panic("conf: bad duration bound on " + f.Key + ": " + err.Error())
		}
		return float64(d)
	}
	x, err := strconv.ParseFloat(s, 64)
	if err != nil {
		panic("conf: bad bound on " + f.Key + ": " + err.Error())
	}
	return x
}
