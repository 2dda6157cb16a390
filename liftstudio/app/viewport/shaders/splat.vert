#version 330 core
// One screen-space quad per Gaussian (instanced, 4 vertices as a triangle strip).
// The 2D footprint is the EWA projection the CPU renderer uses (render/cpu/projection.py):
// Jacobian at the clamped x/z, y/z; covariance dilated on the diagonal; the quad bounds
// the ellipse q <= qmax, qmax = min(footprint², 2 ln(opacity / min_alpha)).

layout(location = 0) in uint a_index;   // per instance: which Gaussian (back-to-front order)

uniform sampler2D u_geometry;           // texel i: (mean.xyz, opacity)
uniform sampler2D u_covariance;         // texels 2i, 2i+1: (c00, c01, c02, c11), (c12, c22, -, -)
uniform sampler2D u_sh;                 // texels i*u_sh_texels + t: 4 floats of the (K, 3) SH
uniform isampler2D u_labels;            // texel i: instance id
uniform usampler2D u_selected;          // texel i: 1 when selected
uniform sampler2D u_palette;            // texel id: instance colour, alpha 0 = hidden
uniform int u_texture_width;           // texels per row of geometry, covariance, SH
uniform int u_id_width;                 // texels per row of labels, selection, palette
uniform int u_palette_size;
uniform int u_sh_texels;
uniform int u_sh_degree;

uniform mat4 u_viewmat;                 // world -> camera (OpenCV), column-major upload
uniform vec4 u_intrinsics;              // fx, fy, cx, cy
uniform vec2 u_image_size;              // width, height in pixels
uniform vec3 u_eye;                     // camera centre (world), for SH directions
uniform vec4 u_limits;                  // x/z clamp: +x, -x ; y/z clamp: +y, -y
uniform float u_dilation;
uniform float u_footprint_q;
uniform float u_min_alpha;
uniform vec2 u_depth_range;             // near, far (culling)
uniform int u_mode;                     // 0 colour, 1 labels, 2 depth
uniform float u_label_opacity;
uniform int u_highlight;
uniform vec2 u_depth_shading;           // depth mode: depth shown brightest, darkest
uniform int u_point_mode;
uniform float u_point_radius;

out vec2 v_offset;                      // pixel offset from the centre (image axes, y down)
flat out vec3 v_conic;
flat out float v_opacity;
flat out float v_qmax;
flat out vec3 v_colour;

const float SH_C0 = 0.28209479177387814;
const float SH_C1 = 0.4886025119029199;
const float SH_C2[5] = float[](1.0925484305920792, -1.0925484305920792, 0.31539156525252005,
                               -1.0925484305920792, 0.5462742152960396);
const float SH_C3[7] = float[](-0.5900435899266435, 2.890611442640554, -0.4570457994644658,
                               0.3731763325901154, -0.4570457994644658, 1.445305721320277,
                               -0.5900435899266435);

ivec2 texel(int linear) {
    return ivec2(linear % u_texture_width, linear / u_texture_width);
}

ivec2 id_texel(int linear) {
    return ivec2(linear % u_id_width, linear / u_id_width);
}

vec3 sh_colour(int index, vec3 dir) {
    float coeffs[48];
    for (int t = 0; t < u_sh_texels; ++t) {
        vec4 v = texelFetch(u_sh, texel(index * u_sh_texels + t), 0);
        coeffs[4 * t] = v.x; coeffs[4 * t + 1] = v.y; coeffs[4 * t + 2] = v.z; coeffs[4 * t + 3] = v.w;
    }
    float basis[16];
    basis[0] = SH_C0;
    if (u_sh_degree >= 1) {
        basis[1] = -SH_C1 * dir.y; basis[2] = SH_C1 * dir.z; basis[3] = -SH_C1 * dir.x;
    }
    if (u_sh_degree >= 2) {
        float xx = dir.x * dir.x, yy = dir.y * dir.y, zz = dir.z * dir.z;
        basis[4] = SH_C2[0] * dir.x * dir.y;
        basis[5] = SH_C2[1] * dir.y * dir.z;
        basis[6] = SH_C2[2] * (2.0 * zz - xx - yy);
        basis[7] = SH_C2[3] * dir.x * dir.z;
        basis[8] = SH_C2[4] * (xx - yy);
        if (u_sh_degree >= 3) {
            basis[9] = SH_C3[0] * dir.y * (3.0 * xx - yy);
            basis[10] = SH_C3[1] * dir.x * dir.y * dir.z;
            basis[11] = SH_C3[2] * dir.y * (4.0 * zz - xx - yy);
            basis[12] = SH_C3[3] * dir.z * (2.0 * zz - 3.0 * xx - 3.0 * yy);
            basis[13] = SH_C3[4] * dir.x * (4.0 * zz - xx - yy);
            basis[14] = SH_C3[5] * dir.z * (xx - yy);
            basis[15] = SH_C3[6] * dir.x * (xx - 3.0 * yy);
        }
    }
    int count = (u_sh_degree + 1) * (u_sh_degree + 1);
    vec3 colour = vec3(0.5);
    for (int k = 0; k < count; ++k) {
        colour += basis[k] * vec3(coeffs[3 * k], coeffs[3 * k + 1], coeffs[3 * k + 2]);
    }
    return max(colour, vec3(0.0));
}

void cull() {
    gl_Position = vec4(0.0, 0.0, 2.0, 1.0);  // outside the clip volume: nothing drawn
    v_offset = vec2(0.0); v_conic = vec3(0.0); v_opacity = 0.0; v_qmax = -1.0; v_colour = vec3(0.0);
}

void main() {
    int index = int(a_index);
    vec4 geometry = texelFetch(u_geometry, texel(index), 0);
    vec3 mean = geometry.xyz;
    float opacity = geometry.w;
    vec3 t = (u_viewmat * vec4(mean, 1.0)).xyz;
    if (!(t.z > u_depth_range.x && t.z < u_depth_range.y) || opacity < u_min_alpha || opacity <= 0.0) {
        cull();
        return;
    }
    float fx = u_intrinsics.x, fy = u_intrinsics.y;
    vec2 centre = vec2(fx * t.x / t.z + u_intrinsics.z, fy * t.y / t.z + u_intrinsics.w);

    vec3 conic;
    float qmax;
    vec2 half_size;
    if (u_point_mode != 0) {
        conic = vec3(0.0);
        qmax = 1.0;
        half_size = vec2(u_point_radius);
    } else {
        vec4 c0 = texelFetch(u_covariance, texel(2 * index), 0);
        vec4 c1 = texelFetch(u_covariance, texel(2 * index + 1), 0);
        mat3 sigma = mat3(c0.x, c0.y, c0.z,
                          c0.y, c0.w, c1.x,
                          c0.z, c1.x, c1.y);
        float inv_z = 1.0 / t.z;
        float u = clamp(t.x * inv_z, -u_limits.y, u_limits.x);
        float v = clamp(t.y * inv_z, -u_limits.w, u_limits.z);
        // J (2x3) as the first two columns of a mat3 (column-major: J[col][row]).
        mat3 J = mat3(fx * inv_z, 0.0, 0.0,
                      0.0, fy * inv_z, 0.0,
                      -fx * u * inv_z, -fy * v * inv_z, 0.0);
        mat3 W = mat3(u_viewmat);
        mat3 T = J * W;
        mat3 cov = T * sigma * transpose(T);
        float a = cov[0][0] + u_dilation;
        float b = cov[0][1];
        float c = cov[1][1] + u_dilation;
        float det = a * c - b * b;
        if (det <= 0.0) {
            cull();
            return;
        }
        qmax = u_footprint_q;
        if (u_min_alpha > 0.0) {
            qmax = min(qmax, 2.0 * log(opacity / u_min_alpha));
        }
        if (qmax <= 0.0) {
            cull();
            return;
        }
        conic = vec3(c / det, -b / det, a / det);
        half_size = sqrt(qmax * vec2(a, c)) + 0.5;
    }

    int label = texelFetch(u_labels, id_texel(index), 0).r;
    vec4 instance = texelFetch(u_palette, id_texel(label % u_palette_size), 0);
    if (label > 0 && instance.a < 0.5) {  // a hidden instance
        cull();
        return;
    }

    vec3 colour;
    if (u_mode == 2) {
        float shade = clamp((u_depth_shading.y - t.z) / (u_depth_shading.y - u_depth_shading.x),
                            0.0, 1.0);
        colour = vec3(0.1 + 0.9 * shade);
    } else {
        colour = sh_colour(index, normalize(mean - u_eye));
        if (u_mode == 1 && label > 0) {
            colour = mix(colour, instance.rgb, u_label_opacity);
        }
    }
    if (u_highlight != 0 && texelFetch(u_selected, id_texel(index), 0).r != 0u) {
        colour = mix(colour, vec3(1.0, 0.85, 0.2), 0.65);
    }

    vec2 corner = vec2(float(gl_VertexID & 1), float((gl_VertexID >> 1) & 1)) * 2.0 - 1.0;
    vec2 offset = corner * half_size;
    vec2 pixel = centre + offset;
    gl_Position = vec4(2.0 * pixel.x / u_image_size.x - 1.0, 1.0 - 2.0 * pixel.y / u_image_size.y,
                       0.0, 1.0);
    v_offset = offset;
    v_conic = conic;
    v_opacity = opacity;
    v_qmax = qmax;
    v_colour = colour;
}
